//! Physical quantities written in model files ("20 ms", "0.6 nS", "-60 mV", "0.02 /ms").
//!
//! Internally every quantity is a plain `f64` in one coherent unit system:
//! time ms, voltage mV, current nA, conductance µS, capacitance nF, resistance MΩ,
//! rate 1/ms. These are consistent (nF·mV/ms = nA, µS·mV = nA), so the kernels need no
//! conversion factors. A quantity is parsed once, checked against the dimension its field
//! expects, and converted; the runtime never sees units.

use std::fmt;

/// Dimension as integer exponents of (time, voltage, current).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dim {
    pub time: i8,
    pub voltage: i8,
    pub current: i8,
}

impl Dim {
    const fn new(time: i8, voltage: i8, current: i8) -> Self {
        Dim { time, voltage, current }
    }
    pub const DIMENSIONLESS: Dim = Dim::new(0, 0, 0);
    pub const TIME: Dim = Dim::new(1, 0, 0);
    pub const VOLTAGE: Dim = Dim::new(0, 1, 0);
    pub const CURRENT: Dim = Dim::new(0, 0, 1);
    pub const CONDUCTANCE: Dim = Dim::new(0, -1, 1);
    pub const CAPACITANCE: Dim = Dim::new(1, -1, 1);
    pub const RESISTANCE: Dim = Dim::new(0, 1, -1);
    pub const RATE: Dim = Dim::new(-1, 0, 0);
    /// Voltage per time (mV/ms), e.g. the Izhikevich `d`.
    pub const VOLTAGE_RATE: Dim = Dim::new(-1, 1, 0);

    fn mul(self, o: Dim, power: i8) -> Dim {
        Dim::new(
            self.time + o.time * power,
            self.voltage + o.voltage * power,
            self.current + o.current * power,
        )
    }

    /// A human name and example units for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Dim::DIMENSIONLESS => "a plain number",
            Dim::TIME => "a time (e.g. \"20 ms\", \"1 s\")",
            Dim::VOLTAGE => "a voltage (e.g. \"-60 mV\")",
            Dim::CURRENT => "a current (e.g. \"200 pA\", \"1 nA\")",
            Dim::CONDUCTANCE => "a conductance (e.g. \"10 nS\")",
            Dim::CAPACITANCE => "a capacitance (e.g. \"200 pF\")",
            Dim::RESISTANCE => "a resistance (e.g. \"100 MOhm\")",
            Dim::RATE => "a rate (e.g. \"10 Hz\", \"0.02 /ms\")",
            Dim::VOLTAGE_RATE => "a voltage per time (e.g. \"8 mV/ms\")",
            _ => "a quantity of another dimension",
        }
    }
}

/// A parsed quantity: value in engram's internal units plus its dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub dim: Dim,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnitError(pub String);

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Base units: symbol, dimension, and the factor to engram's internal unit at prefix 1.
const BASES: &[(&str, Dim, f64)] = &[
    ("Hz", Dim::RATE, 1e-3),
    ("Ohm", Dim::RESISTANCE, 1e-6),
    ("ohm", Dim::RESISTANCE, 1e-6),
    ("Ω", Dim::RESISTANCE, 1e-6),
    ("s", Dim::TIME, 1e3),
    ("V", Dim::VOLTAGE, 1e3),
    ("A", Dim::CURRENT, 1e9),
    ("S", Dim::CONDUCTANCE, 1e6),
    ("F", Dim::CAPACITANCE, 1e9),
];

const PREFIXES: &[(&str, f64)] = &[
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("m", 1e-3),
    ("u", 1e-6),
    ("µ", 1e-6),
    ("μ", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
];

fn parse_symbol(symbol: &str) -> Result<(f64, Dim), UnitError> {
    for &(base, dim, factor) in BASES {
        if symbol == base {
            return Ok((factor, dim));
        }
    }
    for &(prefix, scale) in PREFIXES {
        if let Some(rest) = symbol.strip_prefix(prefix) {
            for &(base, dim, factor) in BASES {
                if rest == base {
                    return Ok((scale * factor, dim));
                }
            }
        }
    }
    Err(UnitError(format!("unknown unit `{symbol}`")))
}

/// Parses a unit expression such as `mV`, `nS`, `/ms`, `mV/ms`, `ms^-1`, `1/s`.
pub fn parse_unit(expr: &str) -> Result<(f64, Dim), UnitError> {
    let expr = expr.trim();
    let mut factor = 1.0;
    let mut dim = Dim::DIMENSIONLESS;
    let mut sign: i8 = 1;
    let mut token = String::new();
    let mut flush = |token: &mut String, sign: i8| -> Result<(), UnitError> {
        let t = token.trim();
        if t.is_empty() || t == "1" {
            token.clear();
            return Ok(());
        }
        let (symbol, power) = match t.split_once('^') {
            Some((s, p)) => {
                let p: i8 = p.trim().parse().map_err(|_| UnitError(format!("bad exponent in `{t}`")))?;
                (s.trim(), p)
            }
            None => (t, 1),
        };
        let (f, d) = parse_symbol(symbol)?;
        let power = power * sign;
        factor *= f.powi(power as i32);
        dim = dim.mul(d, power);
        token.clear();
        Ok(())
    };
    for ch in expr.chars() {
        match ch {
            '*' | '·' => {
                flush(&mut token, sign)?;
                sign = 1;
            }
            '/' => {
                flush(&mut token, sign)?;
                sign = -1;
            }
            c if c.is_whitespace() => {}
            c => token.push(c),
        }
    }
    flush(&mut token, sign)?;
    Ok((factor, dim))
}

/// Parses `"<number> <unit>"`; a bare number is dimensionless.
pub fn parse_quantity(text: &str) -> Result<Quantity, UnitError> {
    let text = text.trim();
    let split = text
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-' || c == '_')
                && !((c == 'e' || c == 'E') && exponent_follows(text, i))
        })
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.replace('_', "");
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError(format!("`{text}` does not start with a number")))?;
    let (factor, dim) = parse_unit(unit)?;
    Ok(Quantity { value: value * factor, dim })
}

fn exponent_follows(text: &str, i: usize) -> bool {
    let rest = &text[i + 1..];
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    rest.starts_with(|c: char| c.is_ascii_digit())
}

/// Parses a quantity and checks its dimension.
pub fn parse_expecting(text: &str, expected: Dim) -> Result<f64, UnitError> {
    let q = parse_quantity(text)?;
    if q.dim != expected {
        return Err(UnitError(format!("expected {}, got `{text}`", expected.describe())));
    }
    Ok(q.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn converts_to_internal_units() {
        assert!(close(parse_expecting("20 ms", Dim::TIME).unwrap(), 20.0));
        assert!(close(parse_expecting("1 s", Dim::TIME).unwrap(), 1000.0));
        assert!(close(parse_expecting("-60 mV", Dim::VOLTAGE).unwrap(), -60.0));
        assert!(close(parse_expecting("200 pA", Dim::CURRENT).unwrap(), 0.2));
        assert!(close(parse_expecting("10 nS", Dim::CONDUCTANCE).unwrap(), 0.01));
        assert!(close(parse_expecting("200 pF", Dim::CAPACITANCE).unwrap(), 0.2));
        assert!(close(parse_expecting("100 MOhm", Dim::RESISTANCE).unwrap(), 100.0));
        assert!(close(parse_expecting("10 Hz", Dim::RATE).unwrap(), 0.01));
        assert!(close(parse_expecting("0.02 /ms", Dim::RATE).unwrap(), 0.02));
        assert!(close(parse_expecting("8 mV/ms", Dim::VOLTAGE_RATE).unwrap(), 8.0));
        assert!(close(parse_expecting("1.5e-3 s", Dim::TIME).unwrap(), 1.5));
        assert!(close(parse_expecting("0.6", Dim::DIMENSIONLESS).unwrap(), 0.6));
    }

    #[test]
    fn rejects_wrong_dimension_and_unknown_units() {
        let err = parse_expecting("20 mV", Dim::TIME).unwrap_err();
        assert!(err.0.contains("expected a time"), "{}", err.0);
        assert!(parse_expecting("20 furlongs", Dim::TIME).is_err());
        assert!(parse_expecting("ms", Dim::TIME).is_err());
    }
}
