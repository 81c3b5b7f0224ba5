//! ARNs as Ferry's inputs name them: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.

/// The account of `arn` when it is an ARN of `service` with a 12-digit account and a
/// resource that starts with `resource_prefix` (and names something after it).
pub fn account_of<'a>(arn: &'a str, service: &str, resource_prefix: &str) -> Option<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].starts_with(resource_prefix)
        && parts[5].len() > resource_prefix.len();
    ok.then(|| parts[4])
}

#[cfg(test)]
mod tests {
    use super::account_of;

    #[test]
    fn accepts_well_formed_arns_only() {
        assert_eq!(
            account_of("arn:aws:iam::777788889999:role/R", "iam", "role/"),
            Some("777788889999")
        );
        assert_eq!(
            account_of(
                "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/k",
                "kms",
                "key/"
            ),
            Some("111122223333")
        );
        for bad in [
            "",
            "arn:",
            "arn:aws:iam::7777:role/R",
            "arn:aws:iam::777788889999:role/",
            "arn:aws:sts::777788889999:role/R",
            "arn:gcp:iam::777788889999:role/R",
        ] {
            assert_eq!(account_of(bad, "iam", "role/"), None, "{bad}");
        }
    }
}
