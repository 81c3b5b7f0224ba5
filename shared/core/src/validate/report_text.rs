//! The report as a person reads it: model, architecture, size, files, then findings.

use std::fmt::Write;

use crate::text::escape_controls;
use crate::text::units::format_bytes;
use crate::validate::architecture::{MULTIMODAL_SIZE_LIMIT, TEXT_SIZE_LIMIT};
use crate::validate::report::{Report, Severity};

impl Report {
    /// The model's name: the last segment of the folder path or S3 prefix.
    pub fn model_name(&self) -> &str {
        let trimmed = self.source.trim_end_matches('/');
        let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
        if name.is_empty() || trimmed.ends_with(':') {
            &self.source
        } else {
            name
        }
    }

    /// Every value from the folder (names, paths, messages) is printed with its control
    /// characters escaped: a file name cannot forge a line or hide text.
    pub fn render_text(&self) -> String {
        let mut out = self.summary_rows();
        out.push_str(&self.findings_text());
        let (errors, warnings) = (self.errors(), self.warnings());
        let verdict = if self.ok {
            format!("\n✔ Ready for Amazon Bedrock Custom Model Import: no errors, {warnings} warning(s).\n")
        } else {
            format!(
                "\n✖ Bedrock would refuse this folder: {errors} error(s), {warnings} warning(s).\n"
            )
        };
        out.push_str(&verdict);
        out
    }

    /// Model, source, architecture, context, size, files and bytes read, one row each.
    fn summary_rows(&self) -> String {
        let mut out = String::new();
        let row = |out: &mut String, label: &str, value: &str| {
            let _ = writeln!(out, "{label:<14}{}", escape_controls(value));
        };
        row(&mut out, "Model", self.model_name());
        row(&mut out, "Source", &self.source);
        row(&mut out, "Architecture", &self.architecture_text());
        if let Some(context) = self.context_length {
            row(&mut out, "Context", &format!("{context} tokens"));
        }
        let limit = if self.multimodal {
            MULTIMODAL_SIZE_LIMIT
        } else {
            TEXT_SIZE_LIMIT
        };
        row(
            &mut out,
            "Size",
            &format!(
                "{} in {} weight file(s) (Bedrock limit: under {}{})",
                format_bytes(self.total_bytes),
                self.weight_files,
                format_bytes(limit),
                if self.multimodal { ", multimodal" } else { "" }
            ),
        );
        row(&mut out, "Files", &self.files.to_string());
        row(
            &mut out,
            "Read",
            &format!(
                "{} (headers and small files only)",
                format_bytes(self.bytes_read)
            ),
        );
        out
    }

    /// The class, family and model_type, as far as they are known.
    fn architecture_text(&self) -> String {
        match (&self.architecture, &self.model_type, &self.family) {
            (Some(class), Some(mt), Some(family)) => format!("{class} ({family}, model_type {mt})"),
            (Some(class), Some(mt), None) => format!("{class} (model_type {mt})"),
            (Some(class), None, _) => class.clone(),
            (None, Some(mt), Some(family)) => format!("model_type {mt} ({family})"),
            (None, Some(mt), None) => format!("model_type {mt}"),
            (None, None, _) => "unknown".to_owned(),
        }
    }

    /// Each finding: severity, code and file, then its message (nothing without findings).
    fn findings_text(&self) -> String {
        let mut out = String::new();
        if self.findings.is_empty() {
            return out;
        }
        out.push_str("\nFindings\n");
        let code_width = self
            .findings
            .iter()
            .map(|f| f.code.as_str().len())
            .max()
            .unwrap_or(0);
        for f in &self.findings {
            let mark = match f.severity {
                Severity::Error => "✖ error  ",
                Severity::Warning => "⚠ warning",
            };
            let _ = writeln!(
                out,
                "  {mark}  {:<code_width$}  {}",
                f.code.as_str(),
                escape_controls(f.file.as_deref().unwrap_or("(folder)"))
            );
            let _ = writeln!(
                out,
                "  {:<width$}{}",
                "",
                escape_controls(&f.message),
                width = 13 + code_width
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::report::{Code, Finding, Report};

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            ok: findings
                .iter()
                .all(|f| f.severity == crate::Severity::Warning),
            source: "s3://bucket/models/llama-3-8b-ft/".into(),
            architecture: Some("LlamaForCausalLM".into()),
            model_type: Some("llama".into()),
            files: 7,
            total_bytes: 16_060_522_496,
            bytes_read: 91_234,
            findings,
            family: Some("Llama 2 / 3 / 3.1 / 3.2 / 3.3".into()),
            multimodal: false,
            context_length: Some(8192),
            weight_files: 4,
        }
    }

    #[test]
    fn shows_model_size_files_and_marked_findings() {
        let text = report(vec![
            Finding::new(
                Code::IncompleteShards,
                Some("model.safetensors.index.json"),
                "the index names x",
            ),
            Finding::new(Code::UnexpectedFile, Some("a.bin"), "a.bin is big"),
        ])
        .render_text();
        assert!(text.starts_with("Model         llama-3-8b-ft\n"), "{text}");
        assert!(text.contains("16.06 GB in 4 weight file(s)"), "{text}");
        assert!(
            text.contains("✖ error    incomplete-shards  model.safetensors.index.json"),
            "{text}"
        );
        assert!(
            text.contains("⚠ warning  unexpected-file    a.bin"),
            "{text}"
        );
        assert!(text.contains("1 error(s), 1 warning(s)"), "{text}");
        assert!(report(vec![]).render_text().contains("✔ Ready"));
    }

    #[test]
    fn names_cannot_forge_lines_or_hide_text() {
        let forged = "x\n\n✔ Ready for Amazon Bedrock Custom Model Import\x1b[8m.safetensors";
        let mut r = report(vec![Finding::new(
            Code::InvalidSafetensors,
            Some(forged),
            format!("{forged} is broken"),
        )]);
        r.source = format!("/models/{forged}");
        r.architecture = Some("Llama\u{1b}[2J".into());
        let text = r.render_text();
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with('✔')),
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("✖ Bedrock")).count(),
            1
        );
        assert!(
            text.contains("x\\n\\n✔ Ready for Amazon Bedrock Custom Model Import\\u{1b}[8m"),
            "{text}"
        );
    }

    #[test]
    fn model_name_falls_back_to_the_source() {
        let mut r = report(vec![]);
        r.source = "s3://bucket/".into();
        assert_eq!(r.model_name(), "bucket");
        r.source = "/".into();
        assert_eq!(r.model_name(), "/");
    }
}
