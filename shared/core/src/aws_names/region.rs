//! Regions and partitions: where Custom Model Import runs and how ARNs are spelled there.

/// Regions where AWS offers Custom Model Import (not GovCloud, not China).
pub(crate) const CUSTOM_MODEL_IMPORT_REGIONS: &[&str] =
    &["us-east-1", "us-east-2", "us-west-2", "eu-central-1"];

/// `aws`, `aws-us-gov` or `aws-cn`, from the region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

/// The DNS suffix of service endpoints (`kms:ViaService` values): `amazonaws.com`, or
/// `amazonaws.com.cn` in China.
pub(crate) fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Whether Bedrock Custom Model Import is offered in `region` (FACTS: four Regions).
pub(crate) fn offers_custom_model_import(region: &str) -> bool {
    CUSTOM_MODEL_IMPORT_REGIONS.contains(&region)
}

/// `us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-2`, ... (syntax only).
pub fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let (last, words) = match parts.split_last() {
        Some((last, words)) if (2..=3).contains(&words.len()) => (last, words),
        _ => return false,
    };
    !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("cn-northwest-1"), "aws-cn");
    }

    #[test]
    fn region_names() {
        for ok in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-2"] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "us--1",
            "useast1",
            "a-b-c-d-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn import_regions() {
        assert!(offers_custom_model_import("us-west-2"));
        assert!(!offers_custom_model_import("us-gov-west-1"));
        assert!(!offers_custom_model_import("eu-west-1"));
    }
}
