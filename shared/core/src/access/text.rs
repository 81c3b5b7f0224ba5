//! The access report for people: one line per check, then each denial explained with
//! the statement to add.

use std::fmt::Write;

use super::checks::{AccessReport, CheckDecision, CheckResult};
use super::probe::{Observed, ProbeReport};

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

impl AccessReport {
    /// `color`: ANSI colors (for a terminal).
    pub fn render_text(&self, color: bool) -> String {
        let style = Style { color };
        let mut out = self.check_lines(&style);
        for check in self.denied() {
            out.push_str(&denial_text(check, &style));
        }
        if let Some(probe) = &self.probe {
            out.push_str(&probe_text(probe, &style));
        }
        out.push_str(&self.verdict(&style));
        out
    }

    /// One line per check, in columns (two for one that could not be judged).
    fn check_lines(&self, style: &Style) -> String {
        let mut out = String::new();
        let id_width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        let action_width = self
            .checks
            .iter()
            .filter_map(|c| c.action.as_ref())
            .map(String::len)
            .max()
            .unwrap_or(0);
        for check in &self.checks {
            let action = check.action.as_deref().unwrap_or("");
            let resource = check.resource.as_deref().unwrap_or("");
            let detail = check.detail.as_deref().unwrap_or("");
            let _ = match check.decision {
                CheckDecision::Skipped if check.unreadable.is_some() => writeln!(
                    out,
                    "{} {:<id_width$}  {action:<action_width$}  {resource}\n  {:<id_width$}  {}",
                    style.paint("33", "?"),
                    check.id,
                    "",
                    style.paint("33", detail)
                ),
                CheckDecision::Skipped => writeln!(
                    out,
                    "{} {:<id_width$}  skipped: {detail}",
                    style.paint("2", "-"),
                    check.id,
                ),
                decision => {
                    let mark = if decision == CheckDecision::Allowed {
                        style.paint("32", "✓")
                    } else {
                        style.paint("31", "✗")
                    };
                    writeln!(
                        out,
                        "{mark} {:<id_width$}  {action:<action_width$}  {resource}",
                        check.id
                    )
                }
            };
        }
        out
    }

    /// The last line: allowed, denied, or allowed as far as the chain could be read.
    fn verdict(&self, style: &Style) -> String {
        let denied = self.denied().count();
        let judged = self
            .checks
            .iter()
            .filter(|c| c.decision != CheckDecision::Skipped)
            .count();
        if self.ok && !self.complete() {
            style.paint(
                "33",
                &format!(
                    "\n? no check denied, but {} part(s) of the chain could not be read, so {} check(s) could not be judged:\n  {}\n",
                    self.unreadable.len(),
                    self.checks.iter().filter(|c| c.unreadable.is_some()).count(),
                    self.unreadable.join("\n  ")
                ),
            )
        } else if self.ok && !self.unreadable.is_empty() {
            style.paint(
                "32",
                &format!(
                    "\n✓ every check allowed ({judged} judged); not read, and no check depends on it:\n  {}\n",
                    self.unreadable.join("\n  ")
                ),
            )
        } else if self.ok {
            style.paint(
                "32",
                &format!("\n✓ every check allowed ({judged} judged)\n"),
            )
        } else {
            style.paint("31", &format!("\n✗ {denied} of {judged} checks denied: Bedrock would fail with \"does not have access\" or refuse the job\n"))
        }
    }
}

/// A denied check explained: what was refused, why, and the statement to add.
fn denial_text(check: &CheckResult, style: &Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} {}: {} on {} by {}",
        style.paint("31", "✗"),
        style.paint("1", check.id),
        check.action.as_deref().unwrap_or(""),
        check.resource.as_deref().unwrap_or(""),
        check.principal.as_deref().unwrap_or("")
    );
    if let Some(detail) = &check.detail {
        let _ = writeln!(out, "  why: {detail}");
    }
    if let Some(fix) = &check.fix {
        let statement = serde_json::to_string_pretty(&fix.statement).unwrap_or_default();
        let _ = writeln!(out, "  add to the {}:", fix.location);
        for line in statement.lines() {
            let _ = writeln!(out, "    {}", style.paint("36", line));
        }
        if let Some(note) = &fix.note {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    out
}

fn probe_text(probe: &ProbeReport, style: &Style) -> String {
    let mut out = String::new();
    if let Some(why) = &probe.not_run {
        let _ = writeln!(
            out,
            "\n{} probe as {}: not run: {why}",
            style.paint("33", "?"),
            probe.role
        );
        return out;
    }
    let reads = probe
        .results
        .iter()
        .filter(|r| r.observed == Observed::Allowed)
        .count();
    let _ = writeln!(
        out,
        "\nprobe as {}: {reads} of {} request(s) succeeded; {} disagree(s) with the evaluation",
        probe.role,
        probe.results.len(),
        probe.disagreements
    );
    for result in &probe.results {
        let mark = match (result.agrees, result.observed) {
            (Some(false), _) => style.paint("31", "≠"),
            (_, Observed::Error) => style.paint("33", "?"),
            _ => continue,
        };
        let evaluated = serde_json::to_value(result.evaluated)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let observed = match result.observed {
            Observed::Allowed => "succeeded".to_owned(),
            Observed::Denied | Observed::Error => {
                format!("failed: {}", result.error.as_deref().unwrap_or(""))
            }
        };
        let _ = writeln!(
            out,
            "{mark} {} {}: the probe {observed}; the evaluation said {evaluated}",
            result.id, result.resource
        );
    }
    if probe.disagreements > 0 {
        out.push_str("  a disagreement means access granted or refused outside the policies Ferry reads (object ACLs, VPC endpoint policies, SCPs, an emulator that enforces nothing) or a misjudgment by Ferry\n");
    }
    out
}
