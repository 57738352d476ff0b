//! The Rego builtins the host provides to compiled policies.
//!
//! `opa build -t wasm` compiles most builtins into the module itself (strings, regular
//! expressions, globs, numbers, aggregates, sets, objects, JSON, base64, ...). The ones it
//! cannot compile are imported through `opa_builtin0..4` by id, and the module's `builtins`
//! export names them. This host implements those that admission policies use ([`SUPPORTED`]);
//! a policy needing another one fails to load, naming it.
//!
//! Every builtin gets its arguments as JSON (sets arrive as arrays, as `opa_json_dump` writes
//! them) and answers with JSON; the bytes exchanged per call are bounded
//! ([`crate::limits::MAX_OUTPUT`] per value).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::limits::{MAX_MESSAGE, sanitize};
use crate::log::Level;

use super::OpaState;

/// A host builtin: its arguments in, its result out, or an error that fails the call.
pub type Builtin = fn(&mut OpaState, &[Value]) -> Result<Value, String>;

/// Every builtin the host provides, by its Rego name.
pub const SUPPORTED: &[(&str, Builtin)] = &[
    ("base64url.encode_no_pad", base64url_encode_no_pad),
    ("glob.quote_meta", glob_quote_meta),
    ("hex.encode", hex_encode),
    ("sprintf", sprintf_builtin),
    ("strings.any_prefix_match", any_prefix_match),
    ("strings.any_suffix_match", any_suffix_match),
    ("strings.count", strings_count),
    ("time.now_ns", now_ns),
    ("trace", trace),
];

/// The host builtin called `name`, if there is one.
pub fn lookup(name: &str) -> Option<Builtin> {
    SUPPORTED.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, String> {
    args.get(i)
        .ok_or_else(|| format!("{name}: expected {} arguments, got {}", i + 1, args.len()))
}

fn sprintf_builtin(_: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    let format = arg(args, 0, "sprintf")?
        .as_str()
        .ok_or("sprintf: operand 1 must be a string")?;
    let values = arg(args, 1, "sprintf")?
        .as_array()
        .ok_or("sprintf: operand 2 must be an array")?;
    Ok(Value::String(sprintf(format, values)))
}

/// `time.now_ns`: the wall clock, read once per call (OPA's semantics: every `time.now_ns()`
/// of one evaluation is the same instant). Kubewarden gives Rego policies the real time, and
/// so does kubewasm: policies use it for expiry checks, and an admission decision is not
/// meant to be replayable.
fn now_ns(state: &mut OpaState, _: &[Value]) -> Result<Value, String> {
    let now = *state.now_ns.get_or_insert_with(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    });
    Ok(Value::from(now))
}

/// `trace(note)`: the note goes to the module's log at debug level; always true.
fn trace(state: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    let note = arg(args, 0, "trace")?;
    let text = note
        .as_str()
        .map_or_else(|| note.to_string(), str::to_string);
    state.log(Level::Debug, format!("trace: {text}"));
    Ok(Value::Bool(true))
}

fn string_arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a str, String> {
    arg(args, i, name)?
        .as_str()
        .ok_or_else(|| format!("{name}: operand {} must be a string", i + 1))
}

/// A string, or an array (or set) of strings, as a list.
fn strings_arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<Vec<&'a str>, String> {
    let bad = || {
        format!(
            "{name}: operand {} must be a string, array or set of strings",
            i + 1
        )
    };
    match arg(args, i, name)? {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(|v| v.as_str().ok_or_else(bad)).collect(),
        _ => Err(bad()),
    }
}

/// `strings.any_prefix_match(search, base)`: some string of `search` starts with some of `base`.
fn any_prefix_match(_: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    let search = strings_arg(args, 0, "strings.any_prefix_match")?;
    let base = strings_arg(args, 1, "strings.any_prefix_match")?;
    Ok(Value::Bool(
        search.iter().any(|s| base.iter().any(|b| s.starts_with(b))),
    ))
}

/// `strings.any_suffix_match(search, base)`: some string of `search` ends with some of `base`.
fn any_suffix_match(_: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    let search = strings_arg(args, 0, "strings.any_suffix_match")?;
    let base = strings_arg(args, 1, "strings.any_suffix_match")?;
    Ok(Value::Bool(
        search.iter().any(|s| base.iter().any(|b| s.ends_with(b))),
    ))
}

/// `strings.count(search, substring)`: non-overlapping occurrences (Go's `strings.Count`: an
/// empty substring counts the characters plus one).
fn strings_count(_: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    let search = string_arg(args, 0, "strings.count")?;
    let sub = string_arg(args, 1, "strings.count")?;
    let n = if sub.is_empty() {
        search.chars().count() + 1
    } else {
        search.matches(sub).count()
    };
    Ok(Value::from(n))
}

/// `hex.encode(x)`: the bytes of `x` in lower-case hexadecimal.
fn hex_encode(_: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    let x = string_arg(args, 0, "hex.encode")?;
    let mut out = String::with_capacity(x.len() * 2);
    for b in x.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    Ok(Value::String(out))
}

/// `base64url.encode_no_pad(x)`: URL-safe base64 without padding.
fn base64url_encode_no_pad(_: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    use base64::Engine as _;
    let x = string_arg(args, 0, "base64url.encode_no_pad")?;
    Ok(Value::String(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x),
    ))
}

/// `glob.quote_meta(pattern)`: the glob's special characters (`* ? \ [ ] { }`) escaped.
fn glob_quote_meta(_: &mut OpaState, args: &[Value]) -> Result<Value, String> {
    let pattern = string_arg(args, 0, "glob.quote_meta")?;
    let mut out = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '\\' | '[' | ']' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::String(out))
}

/// One `sprintf` operand as OPA hands it to Go's `fmt.Sprintf`: integers as integers, other
/// numbers as floats, strings as strings, and everything else as its Rego text.
enum Arg {
    Int(i128),
    Float(f64),
    Str(String),
}

impl Arg {
    fn of(v: &Value) -> Arg {
        match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Arg::Int(i.into())
                } else if let Some(u) = n.as_u64() {
                    Arg::Int(u.into())
                } else {
                    Arg::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Arg::Str(s.clone()),
            other => Arg::Str(rego_text(other)),
        }
    }

    /// Go's `%v` of the operand.
    fn plain(&self) -> String {
        match self {
            Arg::Int(i) => i.to_string(),
            Arg::Float(f) => go_float_g(*f),
            Arg::Str(s) => s.clone(),
        }
    }

    /// Go's name of the operand's type, for `%!verb(type=value)`.
    fn go_type(&self) -> &'static str {
        match self {
            Arg::Int(_) => "int",
            Arg::Float(_) => "float64",
            Arg::Str(_) => "string",
        }
    }
}

/// A value's Rego text (what OPA's `String()` gives): JSON with `", "` and `": "` separators.
fn rego_text(v: &Value) -> String {
    let mut out = String::new();
    write_rego(&mut out, v);
    out
}

fn write_rego(out: &mut String, v: &Value) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_rego(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_rego(out, item);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Go's `%v`/`%g` of a float64: the shortest representation, in exponent form below 1e-4 and
/// from 1e6 on (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let exp = f.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        let s = format!("{f}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else {
        // Rust writes 1e21 / 1.5e-7; Go writes 1e+21 / 1.5e-07.
        let s = format!("{f:e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    }
}

/// Go's `strconv.Quote`, for the characters a policy's text is likely to hold.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Flags, width and precision of one verb.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

impl Spec {
    /// Pads `body` to the width: spaces left (or right with `-`), or zeros after the sign.
    fn pad(&self, body: String, numeric: bool) -> String {
        let Some(width) = self.width else {
            return body;
        };
        let len = body.chars().count();
        if len >= width {
            return body;
        }
        let fill = width - len;
        if self.minus {
            format!("{body}{}", " ".repeat(fill))
        } else if self.zero && numeric {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(rest) => (&body[..1], rest),
                None => ("", body.as_str()),
            };
            format!("{sign}{}{digits}", "0".repeat(fill))
        } else {
            format!("{}{body}", " ".repeat(fill))
        }
    }

    fn signed(&self, negative: bool, digits: String) -> String {
        if negative {
            format!("-{digits}")
        } else if self.plus {
            format!("+{digits}")
        } else if self.space {
            format!(" {digits}")
        } else {
            digits
        }
    }
}

/// Longest width or precision honoured (Go's own limit is 1e6): a bounded result.
const MAX_WIDTH: usize = 1 << 16;

/// Go's `fmt.Sprintf` as OPA's `sprintf` calls it, for the verbs policies use: `%v %s %d %q
/// %x %X %o %b %c %f %F %e %E %g %G %t %%`, flags `- + 0 space #`, width and precision (also
/// `*`-less only). Mismatches read as Go writes them: `%!d(string=x)`, `%!v(MISSING)`,
/// `%!(EXTRA ...)`.
pub fn sprintf(format: &str, values: &[Value]) -> String {
    let args: Vec<Arg> = values.iter().map(Arg::of).collect();
    let mut out = String::with_capacity(format.len() + 16 * args.len());
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some((n.unwrap_or(0) * 10 + d as usize).min(MAX_WIDTH));
                chars.next();
            }
            n
        };
        spec.width = number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        out.push_str(&format_one(verb, &spec, a));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.go_type(), a.plain());
        }
        out.push(')');
    }
    out
}

fn bad_verb(verb: char, a: &Arg) -> String {
    format!("%!{verb}({}={})", a.go_type(), a.plain())
}

fn format_one(verb: char, spec: &Spec, a: &Arg) -> String {
    match (verb, a) {
        ('v', Arg::Str(s)) | ('s', Arg::Str(s)) => {
            let s = match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            spec.pad(s, false)
        }
        ('q', Arg::Str(s)) => spec.pad(go_quote(s), false),
        ('x' | 'X', Arg::Str(s)) => {
            let mut hex = String::with_capacity(s.len() * 2);
            for b in s.bytes() {
                let _ = if verb == 'x' {
                    write!(hex, "{b:02x}")
                } else {
                    write!(hex, "{b:02X}")
                };
            }
            spec.pad(hex, false)
        }
        ('v' | 'd', Arg::Int(i)) => {
            spec.pad(spec.signed(*i < 0, i.unsigned_abs().to_string()), true)
        }
        ('x', Arg::Int(i)) => {
            let digits = format!("{:x}", i.unsigned_abs());
            let digits = if spec.sharp {
                format!("0x{digits}")
            } else {
                digits
            };
            spec.pad(spec.signed(*i < 0, digits), true)
        }
        ('X', Arg::Int(i)) => {
            let digits = format!("{:X}", i.unsigned_abs());
            let digits = if spec.sharp {
                format!("0X{digits}")
            } else {
                digits
            };
            spec.pad(spec.signed(*i < 0, digits), true)
        }
        ('o', Arg::Int(i)) => {
            spec.pad(spec.signed(*i < 0, format!("{:o}", i.unsigned_abs())), true)
        }
        ('b', Arg::Int(i)) => {
            spec.pad(spec.signed(*i < 0, format!("{:b}", i.unsigned_abs())), true)
        }
        ('c', Arg::Int(i)) => {
            let c = u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            spec.pad(c.to_string(), false)
        }
        ('q', Arg::Int(i)) => {
            let c = u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            spec.pad(format!("'{c}'"), false)
        }
        ('v' | 'g' | 'G', Arg::Float(f)) if spec.precision.is_none() => {
            let s = go_float_g(*f);
            let s = if verb == 'G' { s.to_uppercase() } else { s };
            let s = if spec.plus && *f >= 0.0 {
                format!("+{s}")
            } else {
                s
            };
            spec.pad(s, true)
        }
        ('f' | 'F' | 'g' | 'G', Arg::Float(f)) => {
            let p = spec.precision.unwrap_or(6);
            spec.pad(spec.signed(*f < 0.0, format!("{:.p$}", f.abs())), true)
        }
        ('e' | 'E', Arg::Float(f)) => {
            let p = spec.precision.unwrap_or(6);
            let s = format!("{:.p$e}", f.abs());
            let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let e_char = if verb == 'e' { 'e' } else { 'E' };
            spec.pad(
                spec.signed(*f < 0.0, format!("{mantissa}{e_char}{sign}{digits:0>2}")),
                true,
            )
        }
        _ => bad_verb(verb, a),
    }
}

/// Cleans a builtin's error for the operator (it may quote policy input).
pub fn clean_error(name: &str, error: &str) -> String {
    sanitize(&format!("builtin {name}: {error}"), MAX_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sprintf_matches_go() {
        let cases: &[(&str, Value, &str)] = &[
            ("plain", json!([]), "plain"),
            ("%s and %v", json!(["a", "b"]), "a and b"),
            (
                "%d|%v|%5d|%-4d|%05d|%+d",
                json!([7, -3, 42, 1, -12, 5]),
                "7|-3|   42|1   |-0012|+5",
            ),
            (
                "%x %X %#x %o %b",
                json!([255, 255, 255, 8, 5]),
                "ff FF 0xff 10 101",
            ),
            ("%q", json!(["a\"b\n"]), r#""a\"b\n""#),
            ("%x", json!(["hi"]), "6869"),
            (
                "%.2f|%f|%e|%v",
                json!([1.23456, 1.5, 1234.5, 0.25]),
                "1.23|1.500000|1.234500e+03|0.25",
            ),
            (
                "%v %v %v",
                json!([1e21, 1.5e-7, 1234567.5]),
                "1e+21 1.5e-07 1.2345675e+06",
            ),
            (
                "%v",
                json!([{"k": [1, "x"], "a": true}]),
                r#"{"a": true, "k": [1, "x"]}"#,
            ),
            ("%v %s", json!([true, null]), "true null"),
            ("%t", json!([true]), "%!t(string=true)"),
            ("%d", json!(["x"]), "%!d(string=x)"),
            ("%s", json!([7]), "%!s(int=7)"),
            ("%s %s", json!(["only"]), "only %!s(MISSING)"),
            ("%s", json!(["a", 2]), "a%!(EXTRA int=2)"),
            ("100%%", json!([]), "100%"),
            (
                "%5s|%-5s|%.2s",
                json!(["ab", "ab", "abc"]),
                "   ab|ab   |ab",
            ),
            ("tail %", json!([]), "tail %!(NOVERB)"),
            ("%c%c", json!([104, 105]), "hi"),
        ];
        for (format, args, want) in cases {
            assert_eq!(
                sprintf(format, args.as_array().unwrap()),
                *want,
                "{format} {args}"
            );
        }
    }

    #[test]
    fn string_builtins() {
        let mut st = OpaState::default();
        let cases: &[(&str, Value, Value)] = &[
            (
                "strings.any_prefix_match",
                json!(["nginx:1", "a"]),
                json!(false),
            ),
            (
                "strings.any_prefix_match",
                json!([["x/a", "r/b"], ["r/"]]),
                json!(true),
            ),
            (
                "strings.any_prefix_match",
                json!(["r/b", ["q/", "r/"]]),
                json!(true),
            ),
            (
                "strings.any_suffix_match",
                json!(["a.example.com", [".example.com"]]),
                json!(true),
            ),
            (
                "strings.any_suffix_match",
                json!([["a.org"], ".com"]),
                json!(false),
            ),
            ("strings.count", json!(["cheese", "e"]), json!(3)),
            ("strings.count", json!(["aaaa", "aa"]), json!(2)),
            ("strings.count", json!(["héé", ""]), json!(4)),
            ("hex.encode", json!(["hi"]), json!("6869")),
            ("base64url.encode_no_pad", json!(["??>"]), json!("Pz8-")),
            (
                "glob.quote_meta",
                json!(["*.a?[b]{c}\\"]),
                json!("\\*.a\\?\\[b\\]\\{c\\}\\\\"),
            ),
        ];
        for (name, args, want) in cases {
            let f = lookup(name).unwrap();
            assert_eq!(
                f(&mut st, args.as_array().unwrap()).unwrap(),
                *want,
                "{name}({args})"
            );
        }
        let err = any_prefix_match(&mut st, &[json!(1), json!("a")]).unwrap_err();
        assert!(
            err.contains("operand 1 must be a string, array or set"),
            "{err}"
        );
        assert!(strings_count(&mut st, &[json!("a")]).is_err());
    }

    #[test]
    fn widths_are_bounded() {
        let out = sprintf("%999999999999s", &[json!("x")]);
        assert!(out.len() <= MAX_WIDTH + 1, "{}", out.len());
    }

    #[test]
    fn builtins_are_looked_up_by_name() {
        assert!(lookup("sprintf").is_some());
        assert!(lookup("time.now_ns").is_some());
        assert!(lookup("http.send").is_none());
        let mut state = OpaState::default();
        let a = now_ns(&mut state, &[]).unwrap();
        assert_eq!(now_ns(&mut state, &[]).unwrap(), a, "one instant per call");
        assert_eq!(
            trace(&mut state, &[json!("hello")]).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(state.logs[0].1, "trace: hello");
        assert!(
            sprintf_builtin(&mut state, &[json!(1)])
                .unwrap_err()
                .contains("operand 1")
        );
    }
}
