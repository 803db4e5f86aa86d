//! Date/time encoder (htm.core `DateEncoder`, the day-of-week, weekend and time-of-day fields)
//! and the civil-calendar arithmetic it needs.
//!
//! Each enabled field is a [`ScalarEncoder`]; the output concatenates them in htm.core's order:
//!
//! - day of week: periodic on `[0, 7)`, Monday = 0, the whole day (htm.core: integer day);
//! - weekend: two non-overlapping blocks of `w` bits (`size = 2w`), on for Saturday, Sunday and
//!   Friday after 18:00 (nupic's rule, which htm.core's tests follow);
//! - time of day: periodic on `[0, 24)` hours, `hour + minute/60 + second/3600`.
//!
//! htm.core sizes a field by a radius: `size = ⌈period · w / radius⌉`
//! ([`DateFieldParams::with_radius`]), e.g. time of day with radius 4 h gives one bucket per
//! hour. Timestamps are civil date-times without a zone (seconds since the Unix epoch read as
//! UTC, or `YYYY-MM-DD HH:MM:SS`). The calendar is the proleptic Gregorian one, converted with
//! Howard Hinnant's `days_from_civil`/`civil_from_days`, written here because the workspace
//! has no date crate and these ~30 lines are all the encoder needs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{EncodeError, ScalarEncoder, ScalarEncoderParams};
use crate::htm::{HtmError, Sdr};

const COMPONENT: &str = "date encoder";
const FORMAT: &str = "expected YYYY-MM-DD HH:MM:SS";
const SECONDS_PER_DAY: i64 = 86_400;
/// Years accepted by [`DateTime::new`], so that seconds since the epoch fit in i64.
const MAX_YEAR: i64 = 1_000_000_000;

/// A civil date and time of day (no zone, no leap seconds), proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl DateTime {
    /// A checked date-time: month 1–12, a day that exists in that month, hour < 24,
    /// minute < 60, second < 60, |year| ≤ 10⁹.
    pub fn new(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Result<DateTime, EncodeError> {
        let t = DateTime { year, month, day, hour, minute, second };
        let fail = |reason| Err(EncodeError::Timestamp { text: t.to_string(), reason });
        if year.abs() > MAX_YEAR {
            return fail("year out of range");
        }
        if !(1..=12).contains(&month) {
            return fail("month out of range");
        }
        if day == 0 || day > days_in_month(year, month) {
            return fail("no such day in that month");
        }
        if hour >= 24 || minute >= 60 || second >= 60 {
            return fail("time of day out of range");
        }
        Ok(t)
    }

    /// The civil time `seconds` after 1970-01-01 00:00:00.
    pub fn from_unix_seconds(seconds: i64) -> DateTime {
        let (days, secs) = (seconds.div_euclid(SECONDS_PER_DAY), seconds.rem_euclid(SECONDS_PER_DAY));
        let (year, month, day) = civil_from_days(days);
        let secs = secs as u32;
        DateTime { year, month, day, hour: secs / 3600, minute: secs / 60 % 60, second: secs % 60 }
    }

    /// Seconds since 1970-01-01 00:00:00.
    pub fn unix_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECONDS_PER_DAY
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` (or with `T` between date and time).
    pub fn parse(text: &str) -> Result<DateTime, EncodeError> {
        let fail = |reason| EncodeError::Timestamp { text: text.to_string(), reason };
        let bytes = text.trim().as_bytes();
        let shape_ok = bytes.len() == 19
            && bytes.iter().enumerate().all(|(i, &b)| match i {
                4 | 7 => b == b'-',
                10 => b == b' ' || b == b'T',
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(fail(FORMAT));
        }
        let number = |from: usize, to: usize| bytes[from..to].iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
        DateTime::new(
            i64::from(number(0, 4)),
            number(5, 7),
            number(8, 10),
            number(11, 13),
            number(14, 16),
            number(17, 19),
        )
        .map_err(|e| match e {
            EncodeError::Timestamp { reason, .. } => fail(reason),
            other => other,
        })
    }

    pub fn year(&self) -> i64 {
        self.year
    }

    pub fn month(&self) -> u32 {
        self.month
    }

    pub fn day(&self) -> u32 {
        self.day
    }

    pub fn hour(&self) -> u32 {
        self.hour
    }

    pub fn minute(&self) -> u32 {
        self.minute
    }

    pub fn second(&self) -> u32 {
        self.second
    }

    /// Day of the week, Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
    pub fn weekday(&self) -> u32 {
        (days_from_civil(self.year, self.month, self.day) + 3).rem_euclid(7) as u32
    }

    /// Hours since midnight, with minutes and seconds as fractions.
    pub fn hour_of_day(&self) -> f64 {
        f64::from(self.hour) + f64::from(self.minute) / 60.0 + f64::from(self.second) / 3600.0
    }

    /// Saturday, Sunday, or Friday after 18:00.
    pub fn is_weekend(&self) -> bool {
        let weekday = self.weekday();
        weekday >= 5 || (weekday == 4 && self.hour_of_day() > 18.0)
    }
}

impl FromStr for DateTime {
    type Err = EncodeError;

    fn from_str(text: &str) -> Result<DateTime, EncodeError> {
        DateTime::parse(text)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = (self.year, self.month, self.day, self.hour, self.minute, self.second);
        write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`): counts
/// in 400-year eras of 146 097 days, with years starting in March so that leap days come last.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`] (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Size and active bits of one periodic date field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateFieldParams {
    pub size: usize,
    pub active_bits: usize,
}

impl DateFieldParams {
    /// htm.core's sizing: `size = ⌈period · active_bits / radius⌉`, so values `radius` apart
    /// (in the field's unit: days or hours) share no bits.
    pub fn with_radius(active_bits: usize, radius: f64, period: f64) -> Result<DateFieldParams, HtmError> {
        if !(radius.is_finite() && radius > 0.0 && radius <= period) {
            return Err(HtmError::invalid(COMPONENT, "radius", radius, format!("must be in (0, {period}]")));
        }
        Ok(DateFieldParams { size: (period * active_bits as f64 / radius).ceil() as usize, active_bits })
    }
}

/// Parameters of a [`DateEncoder`]; a field left `None` is not encoded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DateEncoderParams {
    /// Periodic over the 7 days of the week.
    pub day_of_week: Option<DateFieldParams>,
    /// Active bits per state (weekday / weekend); the field has twice as many bits.
    pub weekend: Option<usize>,
    /// Periodic over the 24 hours of the day.
    pub time_of_day: Option<DateFieldParams>,
}

/// A validated date encoder: one scalar encoder per enabled field.
#[derive(Debug, Clone, PartialEq)]
pub struct DateEncoder {
    params: DateEncoderParams,
    day_of_week: Option<ScalarEncoder>,
    weekend: Option<ScalarEncoder>,
    time_of_day: Option<ScalarEncoder>,
}

impl DateEncoder {
    pub fn new(params: DateEncoderParams) -> Result<DateEncoder, HtmError> {
        let field =
            |name: &'static str, f: &Option<DateFieldParams>, period: f64| -> Result<Option<ScalarEncoder>, HtmError> {
                let Some(f) = f else { return Ok(None) };
                if f.active_bits == 0 || f.size <= f.active_bits {
                    return Err(HtmError::invalid(
                        COMPONENT,
                        name,
                        format!("{f:?}"),
                        "needs active_bits ≥ 1 and size > active_bits",
                    ));
                }
                let p = ScalarEncoderParams {
                    size: f.size,
                    active_bits: f.active_bits,
                    minimum: 0.0,
                    maximum: period,
                    periodic: true,
                    clip_input: false,
                };
                Ok(Some(ScalarEncoder::new(p)?))
            };
        let day_of_week = field("day_of_week", &params.day_of_week, 7.0)?;
        let time_of_day = field("time_of_day", &params.time_of_day, 24.0)?;
        let weekend = match params.weekend {
            None => None,
            Some(0) => return Err(HtmError::invalid(COMPONENT, "weekend", 0, "must be at least 1")),
            Some(w) => Some(ScalarEncoder::new(ScalarEncoderParams {
                size: 2 * w,
                active_bits: w,
                minimum: 0.0,
                maximum: 1.0,
                periodic: false,
                clip_input: false,
            })?),
        };
        if day_of_week.is_none() && weekend.is_none() && time_of_day.is_none() {
            return Err(HtmError::invalid(COMPONENT, "fields", "none", "enable at least one field"));
        }
        Ok(DateEncoder { params, day_of_week, weekend, time_of_day })
    }

    pub fn params(&self) -> &DateEncoderParams {
        &self.params
    }

    /// Total bits: the sum of the enabled fields' sizes.
    pub fn size(&self) -> usize {
        [&self.day_of_week, &self.weekend, &self.time_of_day].into_iter().flatten().map(ScalarEncoder::size).sum()
    }

    pub fn encode(&self, t: &DateTime) -> Sdr {
        let values = [
            (&self.day_of_week, f64::from(t.weekday())),
            (&self.weekend, f64::from(u8::from(t.is_weekend()))),
            (&self.time_of_day, t.hour_of_day()),
        ];
        let parts: Vec<Sdr> = values.iter().filter_map(|(e, v)| e.as_ref().map(|e| e.encode_valid(*v))).collect();
        Sdr::concatenate(&parts.iter().collect::<Vec<_>>())
    }

    /// Encodes the civil time `seconds` after the Unix epoch.
    pub fn encode_unix_seconds(&self, seconds: i64) -> Sdr {
        self.encode(&DateTime::from_unix_seconds(seconds))
    }

    /// Encodes a `YYYY-MM-DD HH:MM:SS` timestamp.
    pub fn encode_str(&self, text: &str) -> Result<Sdr, EncodeError> {
        Ok(self.encode(&DateTime::parse(text)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime {
        DateTime::parse(text).unwrap()
    }

    /// Timestamps, seconds since the epoch and weekdays (Monday = 0), from Python's `datetime`.
    const KNOWN: [(&str, i64, u32); 12] = [
        ("2020-01-01 00:00:00", 1_577_836_800, 2),
        ("2019-12-11 14:45:00", 1_576_075_500, 2),
        ("2010-11-04 14:55:00", 1_288_882_500, 3),
        ("2019-04-21 12:00:00", 1_555_848_000, 6),
        ("2017-04-17 22:59:00", 1_492_469_940, 0),
        ("1988-05-27 11:00:00", 580_734_000, 4),
        ("1988-05-27 20:00:00", 580_766_400, 4),
        ("1988-05-29 20:00:00", 580_939_200, 6),
        ("2014-07-01 00:00:00", 1_404_172_800, 1),
        ("2000-03-01 00:00:00", 951_868_800, 2),
        ("1969-12-31 23:59:59", -1, 2),
        ("1600-02-29 12:00:00", -11_670_955_200, 1),
    ];

    #[test]
    fn known_timestamps_convert_both_ways() {
        for (text, seconds, weekday) in KNOWN {
            let t = at(text);
            assert_eq!(t.unix_seconds(), seconds, "{text}");
            assert_eq!(DateTime::from_unix_seconds(seconds), t, "{text}");
            assert_eq!(t.weekday(), weekday, "{text}");
            assert_eq!(t.to_string(), text);
        }
    }

    #[test]
    fn day_numbers_round_trip_over_three_thousand_years() {
        let mut previous = civil_from_days(-800_001);
        for days in -800_000..=300_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
            assert!((y, m, d) > previous);
            previous = (y, m, d);
        }
    }

    #[test]
    fn parse_rejects_bad_shapes_and_impossible_dates() {
        assert_eq!(at("2014-07-01T00:30:00"), at("2014-07-01 00:30:00"));
        assert_eq!("2020-02-29 23:59:59".parse::<DateTime>().unwrap().day(), 29);
        assert!(DateTime::parse("2000-02-29 00:00:00").is_ok());
        for (text, reason) in [
            ("2014-07-01", FORMAT),
            ("2014/07/01 00:00:00", FORMAT),
            ("2014-07-01 0:00:00", FORMAT),
            ("2014-13-01 00:00:00", "month out of range"),
            ("2019-02-29 00:00:00", "no such day in that month"),
            ("1900-02-29 00:00:00", "no such day in that month"),
            ("2014-04-31 00:00:00", "no such day in that month"),
            ("2014-07-00 00:00:00", "no such day in that month"),
            ("2014-07-01 24:00:00", "time of day out of range"),
            ("2014-07-01 12:60:00", "time of day out of range"),
        ] {
            assert_eq!(DateTime::parse(text), Err(EncodeError::Timestamp { text: text.to_string(), reason }));
        }
        assert!(DateTime::new(MAX_YEAR + 1, 1, 1, 0, 0, 0).is_err());
    }

    fn encoder(params: DateEncoderParams) -> DateEncoder {
        DateEncoder::new(params).unwrap()
    }

    #[test]
    fn day_of_week_blocks_with_radius_one_day() {
        let field = DateFieldParams::with_radius(2, 1.0, 7.0).unwrap();
        assert_eq!(field.size, 14);
        let e = encoder(DateEncoderParams { day_of_week: Some(field), ..Default::default() });
        for (text, bits) in [
            ("2020-01-01 00:00:00", [4, 5]),
            ("2019-12-11 14:45:00", [4, 5]),
            ("2010-11-04 14:55:00", [6, 7]),
            ("2019-04-21 12:00:00", [12, 13]),
            ("2017-04-17 22:59:00", [0, 1]),
            ("1988-05-27 20:00:00", [8, 9]),
        ] {
            assert_eq!(e.encode(&at(text)).active(), bits, "{text}");
        }
    }

    #[test]
    fn weekend_is_saturday_sunday_and_friday_evening() {
        let e = encoder(DateEncoderParams { weekend: Some(2), ..Default::default() });
        assert_eq!(e.size(), 4);
        for (text, bits) in [
            ("2020-01-01 00:00:00", [0, 1]),
            ("2017-04-17 22:59:00", [0, 1]),
            ("1988-05-27 11:00:00", [0, 1]),
            ("1988-05-27 18:00:00", [0, 1]),
            ("1988-05-27 18:00:01", [2, 3]),
            ("1988-05-27 20:00:00", [2, 3]),
            ("1988-05-28 09:00:00", [2, 3]),
            ("1988-05-29 20:00:00", [2, 3]),
            ("1988-05-30 00:00:00", [0, 1]),
        ] {
            assert_eq!(e.encode(&at(text)).active(), bits, "{text}");
        }
    }

    #[test]
    fn time_of_day_buckets_of_one_hour_wrap_at_midnight() {
        let field = DateFieldParams::with_radius(4, 4.0, 24.0).unwrap();
        assert_eq!(field.size, 24);
        let e = encoder(DateEncoderParams { time_of_day: Some(field), ..Default::default() });
        for (text, bits) in [
            ("2020-01-01 00:00:00", [0, 1, 2, 3]),
            ("2019-12-11 14:45:00", [15, 16, 17, 18]),
            ("2010-11-04 14:55:00", [15, 16, 17, 18]),
            ("2019-04-21 12:00:00", [12, 13, 14, 15]),
            ("2017-04-17 01:00:00", [1, 2, 3, 4]),
            ("2017-04-17 22:59:00", [0, 1, 2, 23]),
            ("1988-05-27 11:00:00", [11, 12, 13, 14]),
        ] {
            assert_eq!(e.encode(&at(text)).active(), bits, "{text}");
        }
    }

    #[test]
    fn fields_are_concatenated_in_order() {
        let e = encoder(DateEncoderParams {
            day_of_week: Some(DateFieldParams { size: 14, active_bits: 2 }),
            weekend: Some(2),
            time_of_day: Some(DateFieldParams { size: 24, active_bits: 4 }),
        });
        assert_eq!(e.size(), 42);
        // Friday (bits 8, 9), weekend (14 + 2, 3), 20:00 (18 + 20..24).
        let x = e.encode(&at("1988-05-27 20:00:00"));
        assert_eq!(x.active(), &[8, 9, 16, 17, 38, 39, 40, 41]);
        assert_eq!(e.encode_unix_seconds(580_766_400), x);
        assert_eq!(e.encode_str("1988-05-27 20:00:00").unwrap(), x);
        assert!(matches!(e.encode_str("1988-05-27"), Err(EncodeError::Timestamp { .. })));
    }

    #[test]
    fn nearby_times_overlap_more_than_distant_ones() {
        let e = encoder(DateEncoderParams {
            time_of_day: Some(DateFieldParams { size: 600, active_bits: 29 }),
            ..Default::default()
        });
        let noon = e.encode(&at("2015-01-05 12:00:00"));
        let overlaps: Vec<usize> = ["12:00:00", "12:12:00", "12:36:00", "13:00:00", "14:00:00", "18:00:00"]
            .iter()
            .map(|t| noon.overlap(&e.encode(&at(&format!("2015-01-05 {t}")))))
            .collect();
        assert_eq!(overlaps, [29, 24, 14, 4, 0, 0]);
    }

    #[test]
    fn invalid_parameters_are_errors() {
        assert!(matches!(
            DateEncoder::new(DateEncoderParams::default()),
            Err(HtmError::InvalidParam { name: "fields", .. })
        ));
        assert!(matches!(
            DateEncoder::new(DateEncoderParams { weekend: Some(0), ..Default::default() }),
            Err(HtmError::InvalidParam { name: "weekend", .. })
        ));
        assert!(matches!(
            DateEncoder::new(DateEncoderParams {
                time_of_day: Some(DateFieldParams { size: 4, active_bits: 4 }),
                ..Default::default()
            }),
            Err(HtmError::InvalidParam { name: "time_of_day", .. })
        ));
        assert!(DateFieldParams::with_radius(4, 0.0, 24.0).is_err());
        assert!(DateFieldParams::with_radius(4, f64::NAN, 24.0).is_err());
    }
}
