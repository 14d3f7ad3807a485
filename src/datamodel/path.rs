//! Concrete names (`Device.IP.Interface.3.Enable`) against registry patterns
//! (`Device.IP.Interface.{i}.Enable`).

/// Splits a concrete name into its registry pattern and its instance numbers, in order.
/// `None` when a segment is not a valid name part (empty, alias-based `[...]`, or a number with a
/// leading zero).
pub fn to_pattern(name: &str) -> Option<(String, Vec<u32>)> {
    let mut pattern = String::with_capacity(name.len() + 8);
    let mut instances = Vec::new();
    let body = name.strip_suffix('.').unwrap_or(name);
    if body.is_empty() {
        return None;
    }
    for (i, segment) in body.split('.').enumerate() {
        if i > 0 {
            pattern.push('.');
        }
        if segment.is_empty() {
            return None;
        }
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            if segment.starts_with('0') {
                return None;
            }
            instances.push(segment.parse::<u32>().ok()?);
            pattern.push_str("{i}");
        } else if segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            pattern.push_str(segment);
        } else {
            return None;
        }
    }
    if name.ends_with('.') {
        pattern.push('.');
    }
    Some((pattern, instances))
}

/// Fills a pattern's `{i}` placeholders with `instances`, in order (extra placeholders stay).
pub fn instantiate(pattern: &str, instances: &[u32]) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut rest = pattern;
    let mut numbers = instances.iter();
    while let Some(at) = rest.find("{i}") {
        out.push_str(&rest[..at]);
        match numbers.next() {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("{i}"),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

/// The last segment of a name (`Device.IP.Interface.3.` → `3`, `…Enable` → `Enable`).
pub fn last_segment(name: &str) -> &str {
    let body = name.strip_suffix('.').unwrap_or(name);
    body.rsplit('.').next().unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_instances() {
        assert_eq!(
            to_pattern("Device.IP.Interface.3.IPv4Address.12.IPAddress"),
            Some((
                "Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress".into(),
                vec![3, 12]
            ))
        );
        assert_eq!(
            to_pattern("Device.NAT.PortMapping."),
            Some(("Device.NAT.PortMapping.".into(), vec![]))
        );
        assert_eq!(
            to_pattern("Device.NAT.PortMapping.4."),
            Some(("Device.NAT.PortMapping.{i}.".into(), vec![4]))
        );
        for bad in [
            "",
            ".",
            "Device..X",
            "Device.IP.Interface.01.",
            "Device.IP.Interface.[a].",
            "Device.A B",
        ] {
            assert_eq!(to_pattern(bad), None, "{bad}");
        }
        assert_eq!(
            instantiate("Device.IP.Interface.{i}.IPv4Address.{i}.", &[2, 5]),
            "Device.IP.Interface.2.IPv4Address.5."
        );
        assert_eq!(last_segment("Device.IP.Interface.3."), "3");
        assert_eq!(last_segment("Device.IP.Interface.3.Name"), "Name");
    }
}
