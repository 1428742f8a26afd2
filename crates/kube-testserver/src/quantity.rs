//! Resource quantities (`resource.Quantity` of k8s.io/apimachinery): parsing
//! and the form the API server stores and returns them in.
//!
//! A port of `ParseQuantity`, `CanonicalizeBytes` and `RoundUp` (see
//! `staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go`):
//!
//! * the suffix picks the format and the format is kept: binary SI (`Ki`,
//!   `Mi`, …) stays binary (`1024Mi` → `1Gi`, `1.5Gi` → `1536Mi`), decimal
//!   SI stays decimal (`0.5` → `500m`, `1000m` → `1`, `1000` → `1k`), and
//!   the exponent form stays an exponent (`1e3` → `1e3`, `1.5e3` → `1500`);
//! * canonical means no fractional digits and the largest suffix that loses
//!   nothing; binary values below 1024 or with a fraction are shown as
//!   decimal SI (`0.5Ki` → `512`);
//! * values finer than a nano are rounded up (away from zero) to a nano;
//! * an input that is already canonical is returned exactly as written,
//!   as Go caches the input string (`100m`, `1e3`, even `+1` and `01`);
//! * JSON numbers are read as their text (`1` → `"1"`, `0.5` → `"500m"`);
//! * `ResourceList` values (container requests/limits, PVC resources) are
//!   also rounded up to milli precision by the defaulting
//!   (`SetDefaults_ResourceList`): `100u` → `1m`.

use std::fmt;

use serde_json::Value;

/// How a quantity is written (`resource.Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// `12e6`
    DecimalExponent,
    /// `12Mi`
    BinarySI,
    /// `12M`
    DecimalSI,
}

/// Why a quantity does not parse; the messages are Go's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QuantityError {
    /// `ErrFormatWrong`
    FormatWrong,
    /// `ErrNumeric`
    Numeric,
    /// `ErrSuffix`
    Suffix,
    /// Valid, but beyond what this port computes exactly (more than 38
    /// significant digits); callers keep such a value as written.
    TooLarge,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityError::FormatWrong => {
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            }
            QuantityError::Numeric => "unable to parse numeric part of quantity",
            QuantityError::Suffix => "unable to parse quantity's suffix",
            QuantityError::TooLarge => "quantity too large",
        })
    }
}

/// A parsed quantity: `±mag × 10^scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Quantity {
    neg: bool,
    mag: u128,
    scale: i32,
    format: Format,
    /// The input, when Go would keep it as the serialised form.
    cached: Option<String>,
    /// Parsed by Go's int64 fast path (`int64Amount`) rather than `inf.Dec`.
    fast: bool,
}

/// `2^63 - 1`: binary SI values are capped here.
const MAX_ALLOWED: u128 = i64::MAX as u128;

fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

/// The pieces of a quantity string (`parseQuantityString`).
struct Scanned<'a> {
    positive: bool,
    value: &'a str,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn scan(s: &str) -> Result<Scanned<'_>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut out = Scanned {
        positive: true,
        value: "",
        num: "",
        denom: "",
        suffix: "",
    };
    let mut pos = 0;
    if pos < end {
        match b[0] {
            b'-' => {
                out.positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    // Leading zeros.
    loop {
        if pos >= end {
            out.num = "0";
            out.value = "0";
            return Ok(out);
        }
        if b[pos] == b'0' {
            pos += 1;
        } else {
            break;
        }
    }
    // Numerator.
    let start = pos;
    let mut i = pos;
    loop {
        if i >= end {
            out.num = &s[start..end];
            out.value = s;
            return Ok(out);
        }
        if b[i].is_ascii_digit() {
            i += 1;
        } else {
            out.num = &s[start..i];
            pos = i;
            break;
        }
    }
    if out.num.is_empty() {
        out.num = "0";
    }
    // Denominator.
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        let mut i = pos;
        loop {
            if i >= end {
                out.denom = &s[start..end];
                out.value = s;
                return Ok(out);
            }
            if b[i].is_ascii_digit() {
                i += 1;
            } else {
                out.denom = &s[start..i];
                pos = i;
                break;
            }
        }
    }
    out.value = &s[..pos];
    // Suffix: letters, then an optional sign and digits (the exponent).
    let suffix_start = pos;
    let mut i = pos;
    loop {
        if i >= end {
            out.suffix = &s[suffix_start..end];
            return Ok(out);
        }
        if b"eEinumkKMGTP".contains(&b[i]) {
            i += 1;
        } else {
            pos = i;
            break;
        }
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    for &c in &b[pos..] {
        if !c.is_ascii_digit() {
            return Err(QuantityError::FormatWrong);
        }
    }
    out.suffix = &s[suffix_start..end];
    Ok(out)
}

/// `(base, exponent, format)` of a suffix (`suffixHandler.interpret`).
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = dec {
        return Some((10, e, Format::DecimalSI));
    }
    let bin = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = bin {
        return Some((2, e, Format::BinarySI));
    }
    if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) {
        let e: i64 = suffix[1..].parse().ok()?;
        // Go truncates to int32; anything this large is out of reach anyway.
        let e = i32::try_from(e).ok()?;
        return Some((10, e, Format::DecimalExponent));
    }
    None
}

/// Parses a signed decimal (`[+-]digits[.digits]`, either part may be
/// empty) into `(negative, magnitude, scale)`.
fn parse_decimal(s: &str) -> Result<(bool, u128, i32), QuantityError> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(QuantityError::Numeric);
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 38 {
        return Err(QuantityError::TooLarge);
    }
    let mag: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| QuantityError::Numeric)?
    };
    let scale = -i32::try_from(frac.len()).map_err(|_| QuantityError::TooLarge)?;
    Ok((neg, mag, scale))
}

/// `ceil(mag / 10^n)` (rounding away from zero on the magnitude).
fn div_pow10_up(mag: u128, n: u32) -> u128 {
    match pow10(n) {
        Some(d) => mag.div_ceil(d),
        None => u128::from(mag != 0),
    }
}

impl Quantity {
    /// `ParseQuantity`.
    pub(crate) fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        if s == "0" {
            return Ok(Quantity {
                neg: false,
                mag: 0,
                scale: 0,
                format: Format::DecimalSI,
                cached: Some(s.into()),
                fast: true,
            });
        }
        let p = scan(s)?;
        let (base, exponent, format) = interpret(p.suffix).ok_or(QuantityError::Suffix)?;
        let digits = (p.num.len() + p.denom.len()) as i32;
        let (precision, mut scale, shift) = match format {
            Format::DecimalExponent | Format::DecimalSI => (18 - digits, exponent, 0),
            Format::BinarySI if exponent >= 0 && p.denom.is_empty() => {
                (15 - p.num.len() as i32 - exponent * 3 / 10 - 1, 0, exponent)
            }
            Format::BinarySI => (-1, 0, 0),
        };
        // Go's int64 fast path.
        if precision >= 0 {
            scale -= p.denom.len() as i32;
            if scale >= -9 {
                let shifted = format!("{}{}", p.num, p.denom);
                let value: i64 = shifted.parse().map_err(|_| QuantityError::Numeric)?;
                if let Some(result) = value.checked_mul(1i64 << shift) {
                    let keep = match format {
                        Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
                        _ => {
                            scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0')
                        }
                    };
                    return Ok(Quantity {
                        neg: !p.positive && result != 0,
                        mag: u128::from(result.unsigned_abs()),
                        scale,
                        format,
                        cached: keep.then(|| s.to_string()),
                        fast: true,
                    });
                }
            }
        }
        // The `inf.Dec` path.
        let (neg, mut mag, mut scale) = parse_decimal(p.value)?;
        let mut format = format;
        if base == 10 {
            scale = scale.checked_add(exponent).ok_or(QuantityError::TooLarge)?;
        } else {
            let factor = 1u128
                .checked_shl(exponent as u32)
                .ok_or(QuantityError::TooLarge)?;
            mag = mag.checked_mul(factor).ok_or(QuantityError::TooLarge)?;
        }
        if mag != 0 && scale < -9 {
            mag = div_pow10_up(mag, (-9 - scale) as u32);
            scale = -9;
        }
        let mut q = Quantity {
            neg: false,
            mag,
            scale,
            format,
            cached: None,
            fast: false,
        };
        if format == Format::BinarySI && q.abs_cmp_int(MAX_ALLOWED) == std::cmp::Ordering::Greater {
            q.mag = MAX_ALLOWED;
            q.scale = 0;
        }
        if format == Format::BinarySI && q.mag != 0 && q.abs_cmp_int(1) == std::cmp::Ordering::Less
        {
            format = Format::DecimalSI;
            q.format = format;
        }
        q.neg = neg && q.mag != 0;
        Ok(q)
    }

    /// Compares `|self|` with the integer `n`.
    fn abs_cmp_int(&self, n: u128) -> std::cmp::Ordering {
        if self.scale >= 0 {
            match pow10(self.scale as u32).and_then(|p| self.mag.checked_mul(p)) {
                Some(v) => v.cmp(&n),
                None => std::cmp::Ordering::Greater,
            }
        } else {
            match pow10((-self.scale) as u32).and_then(|p| n.checked_mul(p)) {
                Some(v) => self.mag.cmp(&v),
                None => std::cmp::Ordering::Less,
            }
        }
    }

    /// `|self|` as an integer, if it has no fractional part.
    fn abs_integer(&self) -> Option<u128> {
        if self.scale >= 0 {
            pow10(self.scale as u32).and_then(|p| self.mag.checked_mul(p))
        } else {
            let p = pow10((-self.scale) as u32)?;
            self.mag.is_multiple_of(p).then(|| self.mag / p)
        }
    }

    /// `RoundUp(Milli)`, as `SetDefaults_ResourceList` does to every value.
    pub(crate) fn round_up_milli(&mut self) {
        if self.fast && self.scale >= -3 {
            return;
        }
        self.cached = None;
        if self.scale < -3 {
            self.mag = div_pow10_up(self.mag, (-3 - self.scale) as u32);
            self.scale = -3;
        }
    }

    /// The serialised form (`String()` / `MarshalJSON`).
    pub(crate) fn to_canonical(&self) -> String {
        if let Some(c) = &self.cached {
            return c.clone();
        }
        if self.mag == 0 {
            return "0".into();
        }
        let sign = if self.neg { "-" } else { "" };
        let mut format = self.format;
        let mut integer = None;
        if format == Format::BinarySI {
            if self.abs_cmp_int(1024) == std::cmp::Ordering::Less {
                format = Format::DecimalSI;
            } else {
                match self.abs_integer() {
                    Some(v) => integer = Some(v),
                    None => format = Format::DecimalSI,
                }
            }
        }
        if let (Format::BinarySI, Some(mut v)) = (format, integer) {
            let mut e = 0;
            while v.is_multiple_of(1024) && e < 6 {
                v /= 1024;
                e += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][e];
            return format!("{sign}{v}{suffix}");
        }
        // Decimal: no factor of 10 left in the mantissa, then the exponent
        // brought down to a multiple of 3.
        let mut mag = self.mag;
        let mut exp = i64::from(self.scale);
        while mag.is_multiple_of(10) {
            mag /= 10;
            exp += 1;
        }
        let r = exp.rem_euclid(3);
        exp -= r;
        let mut digits = mag.to_string();
        for _ in 0..r {
            digits.push('0');
        }
        let suffix = match (format, exp) {
            (Format::DecimalExponent, 0) => String::new(),
            (Format::DecimalSI, -9) => "n".into(),
            (Format::DecimalSI, -6) => "u".into(),
            (Format::DecimalSI, -3) => "m".into(),
            (Format::DecimalSI, 0) => String::new(),
            (Format::DecimalSI, 3) => "k".into(),
            (Format::DecimalSI, 6) => "M".into(),
            (Format::DecimalSI, 9) => "G".into(),
            (Format::DecimalSI, 12) => "T".into(),
            (Format::DecimalSI, 15) => "P".into(),
            (Format::DecimalSI, 18) => "E".into(),
            // No SI suffix that large: Go falls back to the exponent form.
            (_, e) => format!("e{e}"),
        };
        format!("{sign}{digits}{suffix}")
    }

    /// Decodes a JSON value the way `Quantity.UnmarshalJSON` does: strings
    /// (trimmed) and numbers by their text; anything else fails to parse.
    pub(crate) fn from_json(v: &Value) -> Result<Quantity, QuantityError> {
        match v {
            Value::String(s) => Quantity::parse(s.trim()),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            other => Quantity::parse(&other.to_string()),
        }
    }
}

/// The stored form of a JSON quantity; `resource_list` adds the milli
/// rounding of `ResourceList` values. Values too large for this port are
/// kept as they are.
pub(crate) fn canonical_json(v: &Value, resource_list: bool) -> Result<Value, QuantityError> {
    match Quantity::from_json(v) {
        Ok(mut q) => {
            if resource_list {
                q.round_up_milli();
            }
            Ok(Value::String(q.to_canonical()))
        }
        Err(QuantityError::TooLarge) => Ok(v.clone()),
        Err(e) => Err(e),
    }
}

/// Where quantities sit in an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A map of quantities (`ResourceList`): rounded up to milli.
    ResourceList,
    /// A single `Quantity` field.
    Single,
}

fn visit_list(v: &mut Value, f: &mut dyn FnMut(&mut Value, Slot)) {
    if let Value::Object(m) = v {
        for q in m.values_mut() {
            f(q, Slot::ResourceList);
        }
    }
}

fn visit_field(obj: &mut Value, path: &[&str], slot: Slot, f: &mut dyn FnMut(&mut Value, Slot)) {
    let mut cur = obj;
    for p in path {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    match slot {
        Slot::ResourceList => visit_list(cur, f),
        Slot::Single => f(cur, Slot::Single),
    }
}

fn items<'a>(v: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    v.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn visit_requirements(v: &mut Value, f: &mut dyn FnMut(&mut Value, Slot)) {
    for field in ["limits", "requests"] {
        visit_field(v, &[field], Slot::ResourceList, f);
    }
}

fn visit_downward_items(v: &mut Value, f: &mut dyn FnMut(&mut Value, Slot)) {
    for item in items(v, "items") {
        visit_field(item, &["resourceFieldRef", "divisor"], Slot::Single, f);
    }
}

/// Visits every quantity of a PodSpec.
pub(crate) fn visit_pod_spec(spec: &mut Value, f: &mut dyn FnMut(&mut Value, Slot)) {
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in items(spec, list) {
            if let Some(r) = c.get_mut("resources") {
                visit_requirements(r, f);
            }
            for e in items(c, "env") {
                visit_field(
                    e,
                    &["valueFrom", "resourceFieldRef", "divisor"],
                    Slot::Single,
                    f,
                );
            }
        }
    }
    visit_field(spec, &["overhead"], Slot::ResourceList, f);
    if let Some(r) = spec.get_mut("resources") {
        visit_requirements(r, f);
    }
    for vol in items(spec, "volumes") {
        visit_field(vol, &["emptyDir", "sizeLimit"], Slot::Single, f);
        if let Some(r) = vol
            .get_mut("ephemeral")
            .and_then(|e| e.get_mut("volumeClaimTemplate"))
            .and_then(|t| t.get_mut("spec"))
            .and_then(|s| s.get_mut("resources"))
        {
            visit_requirements(r, f);
        }
        if let Some(d) = vol.get_mut("downwardAPI") {
            visit_downward_items(d, f);
        }
        if let Some(p) = vol.get_mut("projected") {
            for src in items(p, "sources") {
                if let Some(d) = src.get_mut("downwardAPI") {
                    visit_downward_items(d, f);
                }
            }
        }
    }
}

/// Visits every quantity of a PersistentVolumeClaim (or claim template).
fn visit_pvc(pvc: &mut Value, f: &mut dyn FnMut(&mut Value, Slot)) {
    if let Some(r) = pvc.get_mut("spec").and_then(|s| s.get_mut("resources")) {
        visit_requirements(r, f);
    }
    visit_field(pvc, &["status", "capacity"], Slot::ResourceList, f);
    visit_field(
        pvc,
        &["status", "allocatedResources"],
        Slot::ResourceList,
        f,
    );
}

/// Visits every quantity of a built-in object of `group`/`kind`.
pub(crate) fn visit(group: &str, kind: &str, obj: &mut Value, f: &mut dyn FnMut(&mut Value, Slot)) {
    let template_spec = |obj: &mut Value, f: &mut dyn FnMut(&mut Value, Slot)| {
        if let Some(spec) = obj
            .get_mut("spec")
            .and_then(|s| s.get_mut("template"))
            .and_then(|t| t.get_mut("spec"))
        {
            visit_pod_spec(spec, f);
        }
    };
    match (group, kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                visit_pod_spec(spec, f);
            }
        }
        ("", "PersistentVolumeClaim") => visit_pvc(obj, f),
        ("", "LimitRange") => {
            if let Some(spec) = obj.get_mut("spec") {
                for l in items(spec, "limits") {
                    for field in [
                        "max",
                        "min",
                        "default",
                        "defaultRequest",
                        "maxLimitRequestRatio",
                    ] {
                        visit_field(l, &[field], Slot::ResourceList, f);
                    }
                }
            }
        }
        ("apps", "Deployment" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            template_spec(obj, f)
        }
        ("apps", "StatefulSet") => {
            template_spec(obj, f);
            if let Some(spec) = obj.get_mut("spec") {
                for t in items(spec, "volumeClaimTemplates") {
                    visit_pvc(t, f);
                }
            }
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            const SOURCES: &[&str] = &[
                "object",
                "pods",
                "resource",
                "containerResource",
                "external",
            ];
            if let Some(spec) = obj.get_mut("spec") {
                for m in items(spec, "metrics") {
                    for src in SOURCES {
                        for field in ["value", "averageValue"] {
                            visit_field(m, &[src, "target", field], Slot::Single, f);
                        }
                    }
                }
            }
            if let Some(status) = obj.get_mut("status") {
                for m in items(status, "currentMetrics") {
                    for src in SOURCES {
                        for field in ["value", "averageValue"] {
                            visit_field(m, &[src, "current", field], Slot::Single, f);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Canonicalises every quantity of a built-in object in place. The first
/// value that does not parse is returned as an error (the object is then
/// partly canonicalised).
pub(crate) fn canonicalize(group: &str, kind: &str, obj: &mut Value) -> Result<(), QuantityError> {
    let mut first = None;
    visit(group, kind, obj, &mut |v, slot| {
        if v.is_null() && slot == Slot::Single {
            return;
        }
        match canonical_json(v, slot == Slot::ResourceList) {
            Ok(c) => *v = c,
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    });
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(s: &str) -> String {
        Quantity::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_canonical()
    }

    #[test]
    fn decimal_si_stays_decimal() {
        for (input, want) in [
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("100m", "100m"),
            ("1.5", "1500m"),
            ("0.1", "100m"),
            (".5", "500m"),
            ("1000", "1k"),
            ("1200", "1200"),
            ("1000000", "1M"),
            ("1000k", "1M"),
            ("2000k", "2M"),
            ("100.0", "100"),
            ("1000000000n", "1"),
            ("0.0001", "100u"),
            ("1n", "1n"),
            ("10", "10"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("123Mi", "123Mi"),
            ("1E", "1E"),
            ("1000E", "1e21"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn binary_si_stays_binary() {
        for (input, want) in [
            ("1024Mi", "1Gi"),
            ("1Gi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("2048Ki", "2Mi"),
            ("1536Ki", "1536Ki"),
            ("2000Mi", "2000Mi"),
            ("1Ki", "1Ki"),
            ("1Mi", "1Mi"),
            ("8Gi", "8Gi"),
            ("512Mi", "512Mi"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("1.1Ki", "1126400m"),
            ("0.5Mi", "512Ki"),
            ("8Ei", "9223372036854775807"),
            ("1024Ti", "1Pi"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn exponent_form_stays_an_exponent() {
        for (input, want) in [
            ("1e3", "1e3"),
            ("1E3", "1E3"),
            ("12e6", "12e6"),
            ("1.5e3", "1500"),
            ("1000e3", "1e6"),
            ("1e-3", "1e-3"),
            ("15e-4", "1500e-6"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn zero_sign_and_go_quirks() {
        for (input, want) in [
            ("0", "0"),
            ("00", "0"),
            ("0.0", "0"),
            ("0Mi", "0"),
            ("-0", "0"),
            ("-1", "-1"),
            ("-0.5", "-500m"),
            ("-1.5Gi", "-1536Mi"),
            // Canonical-looking input is echoed as written (Go's cache).
            ("+1", "+1"),
            ("01", "01"),
            ("5.", "5."),
            // Finer than a nano: rounded up.
            ("0.9n", "1n"),
            ("0.0000000001", "1n"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn invalid_quantities() {
        for (input, err) in [
            ("", QuantityError::FormatWrong),
            ("1GB", QuantityError::FormatWrong),
            ("1Gb", QuantityError::FormatWrong),
            ("abc", QuantityError::FormatWrong),
            ("1.2.3", QuantityError::FormatWrong),
            ("1 Gi", QuantityError::FormatWrong),
            ("1K", QuantityError::Suffix),
            ("1Mb", QuantityError::FormatWrong),
            ("1iK", QuantityError::Suffix),
        ] {
            assert_eq!(Quantity::parse(input), Err(err), "{input:?}");
        }
        assert_eq!(
            QuantityError::FormatWrong.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    #[test]
    fn json_values() {
        let c = |v: Value, rl: bool| canonical_json(&v, rl);
        assert_eq!(c(json!(1), false), Ok(json!("1")));
        assert_eq!(c(json!(0.5), false), Ok(json!("500m")));
        assert_eq!(c(json!(1000), false), Ok(json!("1k")));
        assert_eq!(c(json!(2.0), false), Ok(json!("2")));
        assert_eq!(c(json!(0.25), true), Ok(json!("250m")));
        assert_eq!(c(json!(" 1Gi "), false), Ok(json!("1Gi")));
        assert_eq!(c(json!(true), false), Err(QuantityError::FormatWrong));
        assert_eq!(c(json!({"a": 1}), false), Err(QuantityError::FormatWrong));
    }

    #[test]
    fn resource_lists_round_up_to_milli() {
        let c = |s: &str| canonical_json(&json!(s), true).unwrap();
        assert_eq!(c("100u"), json!("1m"));
        assert_eq!(c("1500u"), json!("2m"));
        assert_eq!(c("0.0001"), json!("1m"));
        assert_eq!(c("1n"), json!("1m"));
        assert_eq!(c("-100u"), json!("-1m"));
        assert_eq!(c("0.5"), json!("500m"));
        assert_eq!(c("1e-3"), json!("1e-3"));
        assert_eq!(c("250m"), json!("250m"));
        assert_eq!(c("1.5Gi"), json!("1536Mi"));
        // Not a ResourceList: no rounding.
        assert_eq!(
            canonical_json(&json!("100u"), false).unwrap(),
            json!("100u")
        );
    }

    #[test]
    fn canonicalize_objects() {
        let mut d = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "a", "resources": {
                "limits": {"cpu": 0.5, "memory": "1024Mi"},
                "requests": {"cpu": "1000m", "memory": 1073741824}
            }, "env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1000m"}}}]}],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "0.5Gi"}}]
        }}}});
        canonicalize("apps", "Deployment", &mut d).unwrap();
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["resources"],
            json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1073741824"}})
        );
        assert_eq!(
            spec["containers"][0]["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"],
            "1"
        );
        assert_eq!(spec["volumes"][0]["emptyDir"]["sizeLimit"], "512Mi");

        let mut hpa = json!({"spec": {"metrics": [
            {"type": "Pods", "pods": {"target": {"type": "AverageValue", "averageValue": "1000m"}}},
            {"type": "External", "external": {"target": {"type": "Value", "value": 1e3}}}
        ]}});
        canonicalize("autoscaling", "HorizontalPodAutoscaler", &mut hpa).unwrap();
        assert_eq!(
            hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"],
            "1"
        );
        assert_eq!(
            hpa["spec"]["metrics"][1]["external"]["target"]["value"],
            "1k"
        );

        let mut sts = json!({"spec": {"volumeClaimTemplates": [
            {"spec": {"resources": {"requests": {"storage": "10240Mi"}}}}
        ]}});
        canonicalize("apps", "StatefulSet", &mut sts).unwrap();
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "10Gi"
        );

        let mut bad = json!({"spec": {"resources": {"requests": {"storage": "10GB"}}}});
        assert_eq!(
            canonicalize("", "PersistentVolumeClaim", &mut bad),
            Err(QuantityError::FormatWrong)
        );
    }
}
