//! What the tracker does once an import completed: the smoke test, the release rule,
//! and the prices the cost display uses (`FERRY_SMOKE_*`, `FERRY_RELEASE`,
//! `FERRY_PRICE_*`).

use crate::policies::{release_parameter_prefix, DEFAULT_RELEASE_PARAMETER_PREFIX};
use crate::verify::{RequestFormat, SmokeConfig};

/// Whether a version that passed its smoke test becomes live by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ReleaseMode {
    /// Released as soon as it is Verified (or Completed, with the smoke test off).
    Auto,
    /// Only `ferry release`.
    Manual,
}

/// Prices in millionths of a US dollar, so that the configuration stays exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    /// Price per Custom Model Unit per minute (`FERRY_PRICE_PER_CMU_MINUTE`).
    pub per_cmu_minute_micros: Option<u64>,
    /// Storage price per Custom Model Unit per month (`FERRY_STORAGE_PRICE_PER_CMU_MONTH`).
    pub storage_per_cmu_month_micros: Option<u64>,
}

impl Prices {
    /// What one running copy costs per 5-minute billing window, in millionths of a
    /// dollar: CMUs × price per CMU-minute × 5 (AWS's formula, one copy, one window).
    pub fn window_micros(&self, cmu: u32) -> Option<u64> {
        self.per_cmu_minute_micros
            .map(|p| p.saturating_mul(u64::from(cmu)).saturating_mul(5))
    }

    /// The month's storage charge of a model of `cmu` units, in millionths of a dollar.
    pub fn storage_month_micros(&self, cmu: u32) -> Option<u64> {
        self.storage_per_cmu_month_micros
            .map(|p| p.saturating_mul(u64::from(cmu)))
    }

    /// One line on the cost of a model of `cmu` units (an estimate: the prices are the
    /// configured ones).
    pub fn describe(&self, cmu: Option<u32>) -> String {
        let Some(cmu) = cmu else {
            return "custom model units not reported by Bedrock".into();
        };
        let mut parts = vec![format!("{cmu} custom model unit(s) per copy")];
        match self.window_micros(cmu) {
            Some(w) => parts.push(format!("{} per running copy per 5-minute window", usd(w))),
            None => parts.push("set FERRY_PRICE_PER_CMU_MINUTE for the cost per window".into()),
        }
        if let Some(m) = self.storage_month_micros(cmu) {
            parts.push(format!("{} storage per month", usd(m)));
        }
        parts.join("; ")
    }
}

/// Millionths of a dollar as `$1.234567`, trailing zeros trimmed to cents.
pub fn usd(micros: u64) -> String {
    let whole = micros / 1_000_000;
    let fraction = format!("{:06}", micros % 1_000_000);
    let trimmed = fraction.trim_end_matches('0');
    let shown = if trimmed.len() < 2 {
        &fraction[..2]
    } else {
        trimmed
    };
    format!("${whole}.{shown}")
}

/// The after-import part of the tracker's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterImport {
    /// The smoke test; `None` when `FERRY_SMOKE_TEST=off`.
    pub smoke: Option<SmokeConfig>,
    /// `FERRY_RELEASE`: auto (default) or manual.
    pub release: ReleaseMode,
    /// The prices of the cost display; unset prices show units only.
    pub prices: Prices,
    /// Where the release parameters live (`FERRY_RELEASE_PARAMETER_PREFIX`, `/ferry`).
    pub parameter_prefix: String,
}

impl Default for AfterImport {
    fn default() -> Self {
        Self {
            smoke: Some(SmokeConfig::default()),
            release: ReleaseMode::Auto,
            prices: Prices::default(),
            parameter_prefix: DEFAULT_RELEASE_PARAMETER_PREFIX.into(),
        }
    }
}

impl AfterImport {
    /// Only these variables, for tools that need no more of the tracker's (`ferry
    /// status`).
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::import::config::ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let config = Self::read(&get, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(crate::import::config::ConfigError(problems))
        }
    }

    /// Reads the variables through `get`; problems are added to `problems`.
    pub(crate) fn read(get: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Self {
        let release = match get("FERRY_RELEASE").as_deref() {
            None | Some("auto") => ReleaseMode::Auto,
            Some("manual") => ReleaseMode::Manual,
            Some(other) => {
                problems.push(format!(
                    "FERRY_RELEASE must be auto or manual, not {other:?}"
                ));
                ReleaseMode::Auto
            }
        };
        let prices = Prices {
            per_cmu_minute_micros: price(get, "FERRY_PRICE_PER_CMU_MINUTE", problems),
            storage_per_cmu_month_micros: price(get, "FERRY_STORAGE_PRICE_PER_CMU_MONTH", problems),
        };
        let raw = get("FERRY_RELEASE_PARAMETER_PREFIX");
        let raw = raw.as_deref().unwrap_or(DEFAULT_RELEASE_PARAMETER_PREFIX);
        // One rule for the name, shared with the templates' grants.
        let parameter_prefix = release_parameter_prefix(raw).unwrap_or_else(|why| {
            problems.push(format!("FERRY_RELEASE_PARAMETER_PREFIX: {why}"));
            DEFAULT_RELEASE_PARAMETER_PREFIX.into()
        });
        Self {
            smoke: smoke(get, problems),
            release,
            prices,
            parameter_prefix,
        }
    }
}

fn smoke(get: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Option<SmokeConfig> {
    match get("FERRY_SMOKE_TEST").as_deref() {
        None | Some("on") => {}
        Some("off") => return None,
        Some(other) => problems.push(format!("FERRY_SMOKE_TEST must be on or off, not {other:?}")),
    }
    let mut config = SmokeConfig::default();
    if let Some(prompt) = get("FERRY_SMOKE_PROMPT") {
        config.prompt = prompt;
    }
    if let Some(raw) = get("FERRY_SMOKE_MAX_TOKENS") {
        match raw.parse() {
            Ok(n) => config.max_tokens = n,
            Err(_) => problems.push(format!(
                "FERRY_SMOKE_MAX_TOKENS must be a whole number, not {:?}",
                crate::text::echo(&raw)
            )),
        }
    }
    if let Some(raw) = get("FERRY_SMOKE_DEADLINE_MINUTES") {
        match raw.parse::<u64>() {
            Ok(minutes) if (1..=24 * 60).contains(&minutes) => config.deadline_secs = minutes * 60,
            _ => problems.push(format!(
                "FERRY_SMOKE_DEADLINE_MINUTES must be between 1 and 1440, not {:?}",
                crate::text::echo(&raw)
            )),
        }
    }
    if let Some(raw) = get("FERRY_SMOKE_FORMAT") {
        match RequestFormat::parse(&raw) {
            Some(format) => config.format = Some(format),
            None => problems.push(format!("FERRY_SMOKE_FORMAT must be BedrockCompletionMaxGenLen, BedrockCompletionMaxTokens or OpenAiChatCompletion, not {:?}", crate::text::echo(&raw))),
        }
    }
    if config.prompt.chars().count() > 2_000 {
        problems.push("FERRY_SMOKE_PROMPT is longer than 2000 characters: a smoke test is billed like any call".into());
    }
    if let Err(e) = config.check() {
        problems.push(e.to_string());
    }
    Some(config)
}

/// A price in dollars with at most 6 decimals, as millionths; `None` when unset.
fn price(
    get: &dyn Fn(&str) -> Option<String>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<u64> {
    let raw = get(name)?;
    let parsed = parse_micros(&raw);
    if parsed.is_none() {
        problems.push(format!(
            "{name} must be a price in US dollars with at most 6 decimals (0.0785), not {:?}",
            crate::text::echo(&raw)
        ));
    }
    parsed
}

/// `"0.0785"` → 78 500; no sign, no exponent, at most 6 decimals, below $1,000,000.
pub(crate) fn parse_micros(raw: &str) -> Option<u64> {
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 6
        || whole.len() > 6
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: u64 = format!("{fraction:0<6}").parse().ok()?;
    Some(whole * 1_000_000 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (AfterImport, Vec<String>) {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut problems = Vec::new();
        (AfterImport::read(&get, &mut problems), problems)
    }

    #[test]
    fn defaults_smoke_test_on_release_auto_no_prices() {
        let (config, problems) = read(&[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config, AfterImport::default());
    }

    #[test]
    fn every_bad_value_is_named() {
        let (_, problems) = read(&[
            ("FERRY_SMOKE_TEST", "yes"),
            ("FERRY_SMOKE_MAX_TOKENS", "0"),
            ("FERRY_SMOKE_DEADLINE_MINUTES", "0"),
            ("FERRY_SMOKE_FORMAT", "Converse"),
            ("FERRY_RELEASE", "sometimes"),
            ("FERRY_PRICE_PER_CMU_MINUTE", "-1"),
            ("FERRY_STORAGE_PRICE_PER_CMU_MONTH", "1e3"),
            ("FERRY_RELEASE_PARAMETER_PREFIX", "/aws/x"),
        ]);
        for name in [
            "FERRY_SMOKE_TEST",
            "max_tokens",
            "FERRY_SMOKE_DEADLINE_MINUTES",
            "FERRY_SMOKE_FORMAT",
            "FERRY_RELEASE",
            "FERRY_PRICE_PER_CMU_MINUTE",
            "FERRY_STORAGE_PRICE_PER_CMU_MONTH",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(name)),
                "{name}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_cost_line_follows_aws_formula() {
        let prices = Prices {
            per_cmu_minute_micros: Some(78_500),
            storage_per_cmu_month_micros: Some(1_950_000),
        };
        // 2 CMU × $0.0785 × 5 minutes = $0.785; storage 2 × $1.95 = $3.90.
        assert_eq!(prices.window_micros(2), Some(785_000));
        assert_eq!(
            prices.describe(Some(2)),
            "2 custom model unit(s) per copy; $0.785 per running copy per 5-minute window; $3.90 storage per month"
        );
        assert!(Prices::default()
            .describe(Some(1))
            .contains("set FERRY_PRICE_PER_CMU_MINUTE"));
        assert_eq!(usd(u64::MAX), "$18446744073709.551615");
    }

    #[test]
    fn prices_are_exact_millionths() {
        assert_eq!(parse_micros("0.0785"), Some(78_500));
        assert_eq!(parse_micros("1.95"), Some(1_950_000));
        assert_eq!(parse_micros("2"), Some(2_000_000));
        assert_eq!(parse_micros(".5"), Some(500_000));
        for bad in ["", ".", "1.2345678", "-1", "1e3", "1,5", "9999999", " 1"] {
            assert_eq!(parse_micros(bad), None, "{bad:?}");
        }
        let (config, problems) = read(&[
            ("FERRY_SMOKE_TEST", "off"),
            ("FERRY_RELEASE", "manual"),
            ("FERRY_PRICE_PER_CMU_MINUTE", "0.0785"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.smoke, None);
        assert_eq!(config.release, ReleaseMode::Manual);
        assert_eq!(config.prices.per_cmu_minute_micros, Some(78_500));
    }
}
