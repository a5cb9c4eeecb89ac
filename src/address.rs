//! IP address text, parsed and printed the way Chrome does it.
//!
//! * [`parse_ip_literal`] is `net::IPAddress::AssignFromIPLiteral`: the check `listen` applies to
//!   its `address` argument (anything else fails with -4 `ERR_INVALID_ARGUMENT`). IPv4 uses the lenient URL-host grammar of
//!   Chromium's `url/url_canon_ip.h` (`127.1`, `0x7f.0.0.1`, `2130706433`, `0177.0.0.1`, one
//!   trailing dot); anything containing a `:` must be a bare IPv6 address (no brackets, no zone).
//! * [`is_canon_ip_address`] is `url::CanonicalizeIPAddress(..).IsIPAddress()`, the test the
//!   sockets permission matcher uses to refuse wildcarding part of an IP address (see the
//!   `permission` module).
//!   Unlike [`parse_ip_literal`] it wants IPv6 *with* brackets.
//! * [`format_ip`] is `net::IPAddress::ToString`: dotted quad for IPv4, RFC 5952 text for IPv6
//!   (IPv4-mapped peers print as `::ffff:7f00:1`, as Chrome reports them).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Outcome of `url_canon_ip`'s IPv4 parser (`CanonHostInfo::Family`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum V4 {
    /// A valid IPv4 address, with the number of dot-separated parts it was written with.
    Ipv4([u8; 4], usize),
    /// Numeric-looking but invalid: overflow, `8`/`9` in an octal part, an empty or non-numeric
    /// part before the last one, more than four parts.
    Broken,
    /// Not an IPv4 address at all (a host name, or IPv6).
    Neutral,
}

/// `IPv4ComponentToNumber`: one dot-separated part, decimal, `0x`/`0X` hex or leading-`0` octal.
/// `Err` carries [`V4::Broken`] or [`V4::Neutral`].
fn ipv4_component(part: &[u8]) -> Result<u32, V4> {
    if part.is_empty() {
        return Err(V4::Neutral);
    }
    let (base, mut prefix) = match part {
        [b'0'] => (10, 0),
        [b'0', b'x' | b'X', ..] => (16, 2),
        [b'0', ..] => (8, 1),
        _ => (10, 0),
    };
    // Leading zeros carry no value ("0x", "00" and "0x00" are all 0).
    while prefix < part.len() && part[prefix] == b'0' {
        prefix += 1;
    }
    let mut broken_octal = false;
    let mut value: u64 = 0;
    for &b in &part[prefix..] {
        match char::from(b).to_digit(base) {
            Some(digit) => {
                value = value
                    .saturating_mul(u64::from(base))
                    .saturating_add(u64::from(digit));
            }
            // "08": all digits, but not octal ones.
            None if b.is_ascii_digit() => broken_octal = true,
            None => return Err(V4::Neutral),
        }
    }
    if broken_octal {
        return Err(V4::Broken);
    }
    u32::try_from(value).map_err(|_| V4::Broken)
}

/// `IPv4AddressToNumber`: 1-4 parts, every part but the last must fit a byte, the last one fills
/// the remaining bytes. One terminal dot is ignored.
fn ipv4_to_number(host: &[u8]) -> V4 {
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() {
        return V4::Neutral;
    }
    // values[0] is the last part, as in Chromium (parsed back to front).
    let mut values = [0u32; 4];
    let mut count = 0;
    for (i, part) in host.rsplit(|&b| b == b'.').enumerate() {
        if i == 4 {
            return V4::Broken;
        }
        match ipv4_component(part) {
            Ok(v) => values[i] = v,
            // A non-numeric last part means "not an IPv4 address"; anywhere else it is broken.
            Err(V4::Neutral) if i == 0 => return V4::Neutral,
            Err(_) => return V4::Broken,
        }
        count = i + 1;
    }
    let mut address = [0u8; 4];
    for i in (1..count).rev() {
        match u8::try_from(values[i]) {
            Ok(byte) => address[count - i - 1] = byte,
            Err(_) => return V4::Broken,
        }
    }
    let mut last = values[0];
    for byte in address[count - 1..].iter_mut().rev() {
        *byte = last.to_le_bytes()[0];
        last >>= 8;
    }
    if last != 0 {
        return V4::Broken;
    }
    V4::Ipv4(address, count)
}

/// `DoParseIPv6` + `CheckIPv6ComponentsSize` + `DoIPv6AddressToNumber` on the text *inside* the
/// brackets: up to 8 groups of 1-4 hex digits, at most one `::`, an optional dotted IPv4 tail
/// of exactly four parts (each in the IPv4 part grammar) without a terminal dot.
fn ipv6_to_number(s: &[u8]) -> Option<[u8; 16]> {
    if s.is_empty() {
        return None;
    }
    let end = s.len();
    let mut groups = [(0usize, 0usize); 8]; // (start, len)
    let mut num_groups = 0;
    let mut contraction: Option<usize> = None; // index of the group "::" precedes
    let mut ipv4_start: Option<usize> = None; // the tail runs from here to the end
    let mut group_start = 0;
    let mut i = 0;
    loop {
        let is_colon = i < end && s[i] == b':';
        let is_contraction = is_colon && i + 1 < end && s[i + 1] == b':';
        if is_colon || i == end {
            let len = i - group_start;
            if len > 4 {
                return None;
            }
            // Empty groups only as a leading "::" or right after a trailing "::".
            if len == 0
                && !((is_contraction && i == 0) || (i == end && contraction == Some(num_groups)))
            {
                return None;
            }
            if len > 0 {
                if num_groups >= 8 {
                    return None;
                }
                groups[num_groups] = (group_start, len);
                num_groups += 1;
            }
        }
        if i == end {
            break;
        }
        if is_contraction {
            if contraction.is_some() {
                return None;
            }
            contraction = Some(num_groups);
            i += 1; // consume the second colon
        }
        if is_colon {
            group_start = i + 1;
        } else if !s[i].is_ascii_hexdigit() {
            // url_canon's CHAR_IPV4 set minus the hex digits: '.', 'x', 'X'.
            if matches!(s[i], b'.' | b'x' | b'X') {
                ipv4_start = Some(group_start);
                break;
            }
            return None;
        }
        i += 1;
    }

    let explicit_bytes = num_groups * 2 + if ipv4_start.is_some() { 4 } else { 0 };
    let contraction_bytes = match contraction {
        Some(_) => 16usize.saturating_sub(explicit_bytes).max(2),
        None => 0,
    };
    if explicit_bytes + contraction_bytes != 16 {
        return None;
    }

    let mut out = [0u8; 16];
    let mut at = 0;
    for (k, &(start, len)) in groups.iter().enumerate().take(num_groups + 1) {
        if contraction == Some(k) {
            at += contraction_bytes; // already zero
        }
        if k < num_groups {
            let value = s[start..start + len]
                .iter()
                .fold(0u16, |acc, &b| acc << 4 | hex_value(b));
            out[at..at + 2].copy_from_slice(&value.to_be_bytes());
            at += 2;
        }
    }
    if let Some(start) = ipv4_start {
        let tail = &s[start..];
        match ipv4_to_number(tail) {
            V4::Ipv4(v4, 4) if tail.last() != Some(&b'.') => out[at..].copy_from_slice(&v4),
            _ => return None,
        }
    }
    Some(out)
}

/// Value of an ASCII hex digit (callers check [`u8::is_ascii_hexdigit`] first).
fn hex_value(b: u8) -> u16 {
    u16::from(match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    })
}

/// Chrome's `IPAddress::AssignFromIPLiteral`.
///
/// Without a `:` the text must be IPv4 in the lenient URL-host grammar: 1-4 dot-separated parts,
/// each decimal, `0x`/`0X` hex (`0x` alone is 0) or leading-`0` octal; every part but the last
/// is one byte, the last fills the remaining bytes (`127.1`, `0x7f.0.0.1`, `2130706433`,
/// `0177.0.0.1`); one terminal dot is ignored (`127.0.0.1.`). Empty parts, overflow and `8`/`9`
/// in an octal part are rejected. With a `:` it must be IPv6 without brackets and without a
/// `%zone` (`[::1]`, `fe80::1%eth0` -> `None`); an embedded IPv4 tail needs exactly four parts.
/// Host names (`localhost`), `""` and any whitespace -> `None`.
pub(crate) fn parse_ip_literal(s: &str) -> Option<IpAddr> {
    let bytes = s.as_bytes();
    if bytes.contains(&b':') {
        return ipv6_to_number(bytes).map(|a| IpAddr::V6(Ipv6Addr::from(a)));
    }
    match ipv4_to_number(bytes) {
        V4::Ipv4(a, _) => Some(IpAddr::V4(Ipv4Addr::from(a))),
        V4::Broken | V4::Neutral => None,
    }
}

/// Chrome's `url::CanonicalizeIPAddress(host).IsIPAddress()`: `host` is an IPv4 address in the
/// URL-host grammar, or (only when the IPv4 parser calls it "not IPv4 at all") a *bracketed*
/// IPv6 address. A broken IPv4-looking host (`1.2.3.256`) and a bare IPv6 (`::1`) are not.
pub(crate) fn is_canon_ip_address(host: &str) -> bool {
    let bytes = host.as_bytes();
    match ipv4_to_number(bytes) {
        V4::Ipv4(..) => true,
        V4::Broken => false,
        V4::Neutral => match bytes {
            [b'[', inner @ .., b']'] => ipv6_to_number(inner).is_some(),
            _ => false,
        },
    }
}

/// Formats an address the way Chrome reports it (`net::IPAddress::ToString`).
///
/// IPv4 is dotted decimal. IPv6 is lowercase hex without leading zeros; the longest run of two
/// or more zero groups (the first one on a tie) becomes `::`, a single zero group stays `0`;
/// there is never a dotted IPv4 tail, bracket or zone. So an IPv4-mapped peer on a dual-stack
/// listener prints as `::ffff:7f00:1`, where Rust's `Display` would print `::ffff:127.0.0.1`.
///
/// ```
/// use chrome_sockets::format_ip;
/// use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
///
/// assert_eq!(format_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), "127.0.0.1");
/// let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
/// assert_eq!(format_ip(IpAddr::V6(mapped)), "::ffff:7f00:1");
/// assert_eq!(format_ip(IpAddr::V6(Ipv6Addr::new(1, 0, 2, 0, 0, 3, 0, 0))), "1:0:2::3:0:0");
/// ```
#[must_use]
pub fn format_ip(addr: IpAddr) -> String {
    let v6 = match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            return format!("{a}.{b}.{c}.{d}");
        }
        IpAddr::V6(v6) => v6.segments(),
    };

    // ChooseIPv6ContractionRange: longest run of >= 2 zero groups, first on a tie.
    let (mut best_start, mut best_len) = (0, 0);
    let mut i = 0;
    while i < 8 {
        if v6[i] != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < 8 && v6[i] == 0 {
            i += 1;
        }
        let len = i - start;
        if len >= 2 && len > best_len {
            (best_start, best_len) = (start, len);
        }
    }

    let mut out = String::with_capacity(39);
    let mut i = 0;
    while i < 8 {
        if best_len > 0 && i == best_start {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += best_len;
            continue;
        }
        let _ = write!(out, "{:x}", v6[i]);
        i += 1;
        if i < 8 {
            out.push(':');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Option<[u8; 4]> {
        match parse_ip_literal(s) {
            Some(IpAddr::V4(a)) => Some(a.octets()),
            Some(IpAddr::V6(a)) => panic!("{s:?} parsed as IPv6 {a}"),
            None => None,
        }
    }

    fn v6(s: &str) -> Option<[u16; 8]> {
        match parse_ip_literal(s) {
            Some(IpAddr::V6(a)) => Some(a.segments()),
            Some(IpAddr::V4(a)) => panic!("{s:?} parsed as IPv4 {a}"),
            None => None,
        }
    }

    #[test]
    fn ipv4_accepted() {
        let cases: &[(&str, [u8; 4])] = &[
            ("127.0.0.1", [127, 0, 0, 1]),
            ("0.0.0.0", [0, 0, 0, 0]),
            ("255.255.255.255", [255, 255, 255, 255]),
            ("127.1", [127, 0, 0, 1]),
            ("127.0.1", [127, 0, 0, 1]),
            ("10.258", [10, 0, 1, 2]),
            ("1.2.65535", [1, 2, 255, 255]),
            ("2130706433", [127, 0, 0, 1]),
            ("4294967295", [255, 255, 255, 255]),
            ("0", [0, 0, 0, 0]),
            ("0x7f.0.0.1", [127, 0, 0, 1]),
            ("0X7F.0.0.1", [127, 0, 0, 1]),
            ("0x7F000001", [127, 0, 0, 1]),
            ("0xffffffff", [255, 255, 255, 255]),
            ("0177.0.0.1", [127, 0, 0, 1]),
            ("0177.0.0.01", [127, 0, 0, 1]),
            ("00000000000000000000177.0.0.1", [127, 0, 0, 1]),
            ("0x000000000000000000007f.0.0.1", [127, 0, 0, 1]),
            ("017700000001", [127, 0, 0, 1]),
            ("0x.0.0.1", [0, 0, 0, 1]),
            ("0X.0.0.1", [0, 0, 0, 1]),
            ("00.0.0.1", [0, 0, 0, 1]),
            ("127.0.0.1.", [127, 0, 0, 1]),
            ("127.1.", [127, 0, 0, 1]),
            ("192.168.0.0x1", [192, 168, 0, 1]),
        ];
        for &(s, want) in cases {
            assert_eq!(v4(s), Some(want), "{s:?}");
        }
    }

    #[test]
    fn ipv4_rejected() {
        for s in [
            "",
            ".",
            "..",
            "localhost",
            "example.com",
            "127.0.0.1..",
            ".127.0.0.1",
            "127..0.1",
            "127.0.0.256",
            "256.0.0.1",
            "1.2.3.4.5",
            "0.0.0.0.0",
            "4294967296",
            "0x100000000",
            "1.16777216",
            "1.2.65536",
            "08.0.0.1",
            "0.0.0.09",
            "0xg.0.0.1",
            "0x7f.0.0.1x",
            "127.0.0.1 ",
            " 127.0.0.1",
            "127.0.0. 1",
            "1e2.0.0.1",
            "-1.0.0.1",
            "+1.0.0.1",
            "１２７.0.0.1",
            "127.0.0.one",
        ] {
            assert_eq!(v4(s), None, "{s:?}");
        }
    }

    #[test]
    fn ipv6_accepted() {
        let cases: &[(&str, [u16; 8])] = &[
            ("::", [0; 8]),
            ("::1", [0, 0, 0, 0, 0, 0, 0, 1]),
            ("1::", [1, 0, 0, 0, 0, 0, 0, 0]),
            ("1::1", [1, 0, 0, 0, 0, 0, 0, 1]),
            ("fe80::1", [0xfe80, 0, 0, 0, 0, 0, 0, 1]),
            ("FE80::ABCD", [0xfe80, 0, 0, 0, 0, 0, 0, 0xabcd]),
            ("2001:db8::1", [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]),
            ("1:2:3:4:5:6:7:8", [1, 2, 3, 4, 5, 6, 7, 8]),
            (
                "0001:0002:0003:0004:0005:0006:0007:0008",
                [1, 2, 3, 4, 5, 6, 7, 8],
            ),
            ("1:2:3:4:5:6:7::", [1, 2, 3, 4, 5, 6, 7, 0]),
            ("::2:3:4:5:6:7:8", [0, 2, 3, 4, 5, 6, 7, 8]),
            ("::ffff:127.0.0.1", [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]),
            ("::127.0.0.1", [0, 0, 0, 0, 0, 0, 0x7f00, 1]),
            ("1:2:3:4:5:6:1.2.3.4", [1, 2, 3, 4, 5, 6, 0x102, 0x304]),
            // The embedded IPv4 uses the IPv4 part grammar, but must have four parts.
            ("::ffff:0x7f.0.0.1", [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]),
            ("::ffff:0177.0.0.1", [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]),
        ];
        for &(s, want) in cases {
            assert_eq!(v6(s), Some(want), "{s:?}");
        }
    }

    #[test]
    fn ipv6_rejected() {
        for s in [
            ":",
            ":::",
            "[::1]",
            "[::1",
            "::1]",
            "fe80::1%eth0",
            "fe80::1%1",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4::5:6:7:8",
            "1::2::3",
            ":1::",
            "1:",
            ":1",
            "1:::2",
            "12345::",
            "g::",
            "::ffff:127.1",
            "::ffff:127.0.0.1.",
            "::ffff:127.0.0.256",
            "::ffff:1.2.3.4.5",
            "::1.2.3.4:1",
            "1:2:3:4:5:6:7:1.2.3.4",
            " ::1",
            "::1 ",
            "::1/128",
            "127.0.0.1:80",
        ] {
            assert_eq!(v6(s), None, "{s:?}");
        }
    }

    #[test]
    fn not_ip_literals() {
        for s in [
            "localhost",
            "",
            " ",
            "\t",
            "host:80",
            "[::1]:80",
            "www.example.com.",
        ] {
            assert_eq!(parse_ip_literal(s), None, "{s:?}");
        }
    }

    #[test]
    fn canon_ip_address() {
        for s in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f.1",
            "127.0.0.1.",
            "[::1]",
            "[::ffff:1.2.3.4]",
        ] {
            assert!(is_canon_ip_address(s), "{s:?}");
        }
        for s in [
            "::1",
            "fe80::1",
            "[::1",
            "[]",
            "[",
            "1.2.3.256",
            "08.0.0.1",
            "localhost",
            "a.example.com",
            "",
            "[fe80::1%eth0]",
        ] {
            assert!(!is_canon_ip_address(s), "{s:?}");
        }
    }

    fn f6(g: [u16; 8]) -> String {
        format_ip(IpAddr::V6(Ipv6Addr::from(g)))
    }

    #[test]
    fn format_ipv4() {
        assert_eq!(
            format_ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
            "127.0.0.2"
        );
        assert_eq!(format_ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), "0.0.0.0");
        assert_eq!(
            format_ip(IpAddr::V4(Ipv4Addr::new(255, 10, 0, 200))),
            "255.10.0.200"
        );
    }

    #[test]
    fn format_ipv6() {
        let cases: &[([u16; 8], &str)] = &[
            ([0; 8], "::"),
            ([0, 0, 0, 0, 0, 0, 0, 1], "::1"),
            ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
            ([1, 0, 0, 0, 0, 0, 0, 1], "1::1"),
            ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], "2001:db8::1"),
            ([1, 2, 3, 4, 5, 6, 7, 8], "1:2:3:4:5:6:7:8"),
            (
                [
                    0xabcd, 0xef01, 0x2345, 0x6789, 0xabcd, 0xef01, 0x2345, 0x6789,
                ],
                "abcd:ef01:2345:6789:abcd:ef01:2345:6789",
            ),
            (
                [0x0abc, 0x00de, 0x000f, 0, 0, 0, 0, 0x1000],
                "abc:de:f::1000",
            ),
            // A single zero group is never compressed.
            ([1, 0, 2, 3, 4, 5, 6, 7], "1:0:2:3:4:5:6:7"),
            ([0, 1, 2, 3, 4, 5, 6, 7], "0:1:2:3:4:5:6:7"),
            ([1, 2, 3, 4, 5, 6, 7, 0], "1:2:3:4:5:6:7:0"),
            ([1, 0, 2, 0, 3, 0, 4, 0], "1:0:2:0:3:0:4:0"),
            // Two zero groups are.
            ([1, 2, 3, 4, 5, 6, 0, 0], "1:2:3:4:5:6::"),
            ([0, 0, 1, 2, 3, 4, 5, 6], "::1:2:3:4:5:6"),
            // Ties go to the first run; a longer later run wins.
            ([1, 0, 0, 1, 0, 0, 1, 1], "1::1:0:0:1:1"),
            ([1, 0, 0, 1, 1, 0, 0, 1], "1::1:1:0:0:1"),
            ([0, 0, 1, 0, 0, 0, 1, 0], "0:0:1::1:0"),
            ([1, 0, 0, 1, 0, 0, 0, 1], "1:0:0:1::1"),
            ([0, 0, 1, 1, 1, 1, 0, 0], "::1:1:1:1:0:0"),
            // Never a dotted IPv4 tail.
            ([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1], "::ffff:7f00:1"),
            ([0, 0, 0, 0, 0, 0, 0x7f00, 1], "::7f00:1"),
            ([0, 0, 0, 0, 0, 0xffff, 0, 0], "::ffff:0:0"),
            (
                [0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a],
                "fe80::1ff:fe23:4567:890a",
            ),
        ];
        for &(g, want) in cases {
            assert_eq!(f6(g), want, "{g:x?}");
        }
    }

    #[test]
    fn format_round_trips_through_parse() {
        for s in [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "::ffff:7f00:1",
            "1:0:2:3:4:5:6:7",
            "1::1:0:0:1:1",
        ] {
            let addr = parse_ip_literal(s).unwrap();
            assert_eq!(format_ip(addr), s);
        }
        let mapped = parse_ip_literal("::ffff:127.0.0.1").unwrap();
        assert_eq!(format_ip(mapped), "::ffff:7f00:1");
        assert_eq!(format_ip(parse_ip_literal("0x7f.1").unwrap()), "127.0.0.1");
    }
}
