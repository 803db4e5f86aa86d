//! Malformed model files: the `engram` binary must exit with status 2, name the file, the
//! line and the dotted field in its message, and leave no output behind. Also: a failing run
//! leaves an earlier good output untouched, and a good run writes every output file with the
//! summary fields and the command-line overrides.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A small valid model. Line numbers matter: the cases below replace single lines (keeping
/// the count) and assert the line the error points at.
const BASE: &str = r#"# bad-input test model
[run]
dt = "0.1 ms"
duration = "20 ms"
seed = 3

[[populations]]
name = "exc"
size = 4
model = "lif"
params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms", i_e = "300 pA" }

[[populations]]
name = "inh"
size = 2
model = "lif"
[populations.params]
c_m = "200 pF"
tau_m = "20 ms"
e_l = "-60 mV"
v_th = "-50 mV"
v_reset = "-60 mV"
t_ref = "2 ms"

[[projections]]
pre = "exc"
post = "inh"
connect = { rule = "fixed_probability", p = 0.5 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV", name = "exc" }
weight = "1 nS"
delay = "1 ms"

[[projections]]
pre = "inh"
post = "exc"
connect = { rule = "all_to_all" }
synapse = { model = "exp_cond", tau = "10 ms", e_rev = "-80 mV", name = "inh" }
weight = "2 nS"
delay = "0.5 ms"

[monitors]
spikes = ["exc", "inh"]
state = [{ population = "exc", variables = ["v"], neurons = [0, 1], every = "0.1 ms" }]
"#;

fn engram() -> Command {
    Command::new(env!("CARGO_BIN_EXE_engram"))
}

/// `BASE` with line `line` (1-based) replaced by `text`.
fn with_line(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = BASE.lines().collect();
    assert!(line >= 1 && line <= lines.len(), "line {line} is outside the base model");
    lines[line - 1] = text;
    lines.join("\n") + "\n"
}

/// Checks that `BASE` has `expected` on line `line`, so that a case edits what it means to.
fn base_line(line: usize, expected: &str) {
    assert_eq!(BASE.lines().nth(line - 1), Some(expected), "BASE line {line} changed; update the test cases");
}

struct Failure {
    code: Option<i32>,
    stderr: String,
    model: PathBuf,
    out: PathBuf,
    dir: TempDir,
}

fn write_model(dir: &Path, text: &str) -> PathBuf {
    let model = dir.join("model.toml");
    std::fs::write(&model, text).unwrap();
    model
}

/// Runs `engram run` on `text` with a fresh output directory.
fn run_model(text: &str, extra: &[&str]) -> Failure {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), text);
    let out = dir.path().join("out");
    let output = engram().arg("run").arg(&model).arg("--out").arg(&out).arg("--quiet").args(extra).output().unwrap();
    Failure { code: output.status.code(), stderr: String::from_utf8_lossy(&output.stderr).into_owned(), model, out, dir }
}

/// Asserts a bad-input failure at `line` naming `field`, with no output directory (nor a
/// leftover staging directory) and the same verdict from `engram check`.
fn assert_bad(text: &str, line: usize, field: &str) -> String {
    let f = run_model(text, &[]);
    let ctx = format!("stderr was:\n{}", f.stderr);
    assert_eq!(f.code, Some(2), "exit status; {ctx}");
    assert!(!f.stderr.contains("panicked"), "panic; {ctx}");
    let prefix = format!("error: {}:{line}:", f.model.display());
    assert!(f.stderr.starts_with(&prefix), "expected prefix `{prefix}`; {ctx}");
    assert!(f.stderr.contains(&format!(": {field}: ")), "expected field `{field}`; {ctx}");
    assert_eq!(f.stderr.lines().count(), 1, "one line of error; {ctx}");
    assert!(!f.out.exists(), "{} exists after a failed run", f.out.display());
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "model.toml").collect();
    assert!(leftovers.is_empty(), "files left beside the model: {leftovers:?}");

    let check = engram().arg("check").arg(&f.model).output().unwrap();
    assert_eq!(check.status.code(), Some(2), "`engram check` exit status");
    assert_eq!(String::from_utf8_lossy(&check.stderr), f.stderr, "`engram check` reports the same error");
    f.stderr
}

#[test]
fn base_model_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), BASE);
    let out = engram().arg("check").arg(&model).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn toml_syntax_error() {
    base_line(9, "size = 4");
    let e = assert_bad(&with_line(9, "size = = 4"), 9, "populations[0].size");
    assert!(e.contains("TOML syntax error"), "{e}");
}

#[test]
fn unterminated_string() {
    base_line(30, r#"weight = "1 nS""#);
    assert_bad(&with_line(30, r#"weight = "1 nS"#), 30, "projections[0].weight");
}

#[test]
fn duplicate_key() {
    base_line(5, "seed = 3");
    let e = assert_bad(&with_line(5, "duration = \"30 ms\""), 5, "run.duration");
    assert!(e.contains("duplicate key"), "{e}");
}

#[test]
fn unknown_field_misspelt_required_param() {
    base_line(19, r#"tau_m = "20 ms""#);
    let e = assert_bad(&with_line(19, r#"tau_mm = "20 ms""#), 19, "populations[1].params.tau_mm");
    assert!(e.contains("unknown field `tau_mm`") && e.contains("did you mean `tau_m`?"), "{e}");
}

#[test]
fn unknown_field_misspelt_optional_param() {
    base_line(23, r#"t_ref = "2 ms""#);
    let e = assert_bad(&with_line(23, r#"t_reff = "2 ms""#), 23, "populations[1].params.t_reff");
    assert!(e.contains("unknown field `t_reff`"), "{e}");
}

#[test]
fn unknown_field_in_inline_params() {
    base_line(11, r#"params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms", i_e = "300 pA" }"#);
    let text = with_line(11, r#"params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms", i_e = "300 pA", gain = 2 }"#);
    assert_bad(&text, 11, "populations[0].params.gain");
}

#[test]
fn unknown_field_misspelt_projection_key() {
    let e = assert_bad(&with_line(30, r#"wieght = "1 nS""#), 30, "projections[0].wieght");
    assert!(e.contains("did you mean `weight`?"), "{e}");
}

#[test]
fn unknown_top_level_table() {
    base_line(41, "[monitors]");
    assert_bad(&with_line(41, "[monitor]"), 41, "monitor");
}

#[test]
fn unknown_neuron_model() {
    base_line(10, r#"model = "lif""#);
    let e = assert_bad(&with_line(10, r#"model = "lif2""#), 10, "populations[0].model");
    assert!(e.contains("unknown neuron model `lif2`"), "{e}");
}

#[test]
fn wrong_unit() {
    let e = assert_bad(&with_line(19, r#"tau_m = "20 mV""#), 19, "populations[1].params.tau_m");
    assert!(e.contains("expected a time"), "{e}");
}

#[test]
fn unknown_unit() {
    base_line(4, r#"duration = "20 ms""#);
    let e = assert_bad(&with_line(4, r#"duration = "20 fortnights""#), 4, "run.duration");
    assert!(e.contains("unknown unit"), "{e}");
}

#[test]
fn bare_number_where_a_unit_is_required() {
    let e = assert_bad(&with_line(19, "tau_m = 20"), 19, "populations[1].params.tau_m");
    assert!(e.contains("bare number"), "{e}");
    base_line(31, r#"delay = "1 ms""#);
    assert_bad(&with_line(31, "delay = 1"), 31, "projections[0].delay");
}

#[test]
fn negative_delay() {
    let e = assert_bad(&with_line(31, r#"delay = "-1 ms""#), 31, "projections[0].delay");
    assert!(e.contains("negative delay"), "{e}");
}

#[test]
fn delay_shorter_than_dt() {
    let e = assert_bad(&with_line(31, r#"delay = "0.05 ms""#), 31, "projections[0].delay");
    assert!(e.contains("shorter than dt"), "{e}");
}

#[test]
fn delay_drawn_from_a_normal_distribution() {
    assert_bad(&with_line(31, r#"delay = { normal = ["1 ms", "0.2 ms"] }"#), 31, "projections[0].delay");
}

#[test]
fn delay_longer_than_supported() {
    assert_bad(&with_line(31, r#"delay = "100 s""#), 31, "projections[0].delay");
}

#[test]
fn undefined_presynaptic_population() {
    base_line(26, r#"pre = "exc""#);
    let e = assert_bad(&with_line(26, r#"pre = "exc2""#), 26, "projections[0].pre");
    assert!(e.contains("`exc2` is not defined"), "{e}");
}

#[test]
fn undefined_postsynaptic_population() {
    base_line(35, r#"post = "exc""#);
    let e = assert_bad(&with_line(35, r#"post = "ex""#), 35, "projections[1].post");
    assert!(e.contains("`ex` is not defined"), "{e}");
}

#[test]
fn undefined_population_in_a_monitor() {
    base_line(42, r#"spikes = ["exc", "inh"]"#);
    assert_bad(&with_line(42, r#"spikes = ["exc", "inhib"]"#), 42, "monitors.spikes");
}

#[test]
fn probability_outside_unit_interval() {
    base_line(28, r#"connect = { rule = "fixed_probability", p = 0.5 }"#);
    let e = assert_bad(&with_line(28, r#"connect = { rule = "fixed_probability", p = 1.5 }"#), 28, "projections[0].connect.p");
    assert!(e.contains("outside [0, 1]"), "{e}");
    assert_bad(&with_line(28, r#"connect = { rule = "fixed_probability", p = -0.1 }"#), 28, "projections[0].connect.p");
}

#[test]
fn negative_conductance_weight() {
    let e = assert_bad(&with_line(30, r#"weight = "-1 nS""#), 30, "projections[0].weight");
    assert!(e.contains("must not be negative"), "{e}");
    assert_bad(&with_line(30, r#"weight = { normal = ["1 nS", "0.5 nS"] }"#), 30, "projections[0].weight");
}

#[test]
fn weight_of_the_wrong_dimension() {
    let e = assert_bad(&with_line(30, r#"weight = "1 pA""#), 30, "projections[0].weight");
    assert!(e.contains("expected a conductance"), "{e}");
}

#[test]
fn unknown_synapse_model() {
    base_line(29, r#"synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV", name = "exc" }"#);
    let e = assert_bad(&with_line(29, r#"synapse = { model = "exp_conductance", tau = "5 ms", e_rev = "0 mV", name = "exc" }"#), 29, "projections[0].synapse.model");
    assert!(e.contains("unknown synapse model"), "{e}");
}

#[test]
fn unknown_connectivity_rule() {
    assert_bad(&with_line(28, r#"connect = { rule = "random", p = 0.5 }"#), 28, "projections[0].connect.rule");
}

#[test]
fn missing_required_fields() {
    // A missing field is reported at its table, naming the field.
    base_line(7, "[[populations]]");
    let e = assert_bad(&with_line(9, "# no size"), 7, "populations[0].size");
    assert!(e.contains("missing required field `size`"), "{e}");
    base_line(17, "[populations.params]");
    base_line(21, r#"v_th = "-50 mV""#);
    assert_bad(&with_line(21, "# no v_th"), 17, "populations[1].params.v_th");
    base_line(25, "[[projections]]");
    assert_bad(&with_line(30, "# no weight"), 25, "projections[0].weight");
    base_line(2, "[run]");
    assert_bad(&with_line(4, "# no duration"), 2, "run.duration");
    assert_bad(&with_line(29, r#"synapse = { model = "exp_cond", tau = "5 ms", name = "exc" }"#), 29, "projections[0].synapse.e_rev");
}

#[test]
fn missing_run_table() {
    assert_bad(&with_line(2, "# no [run]").replace("dt = \"0.1 ms\"\n", "").replace("duration = \"20 ms\"\nseed = 3\n", ""), 1, "run");
}

#[test]
fn duplicate_population_name() {
    base_line(14, r#"name = "inh""#);
    let e = assert_bad(&with_line(14, r#"name = "exc""#), 14, "populations[1].name");
    assert!(e.contains("defined twice"), "{e}");
}

#[test]
fn initial_value_for_an_unknown_synapse_channel() {
    base_line(16, r#"model = "lif""#);
    // One line becomes two: `init` lands on line 17, before the `[populations.params]` header.
    let text = with_line(16, r#"model = "lif"
init = { s_ampa = "1 nS" }"#);
    let e = assert_bad(&text, 17, "populations[1].init.s_ampa");
    assert!(e.contains("no projection onto `inh` has a synapse named `ampa`"), "{e}");
}

#[test]
fn one_synapse_name_for_two_synapse_models() {
    base_line(37, r#"synapse = { model = "exp_cond", tau = "10 ms", e_rev = "-80 mV", name = "inh" }"#);
    // projections[1] targets `exc`; give a second projection onto `exc` the same name.
    let text = BASE.to_string()
        + r#"
[[projections]]
pre = "exc"
post = "exc"
connect = { rule = "one_to_one" }
synapse = { model = "exp_current", tau = "5 ms", name = "inh" }
weight = "1 pA"
"#;
    assert_bad(&text, 49, "projections[2].synapse.name");
}

#[test]
fn spike_source_as_a_target() {
    let text = BASE.to_string()
        + r#"
[[sources]]
name = "drive"
kind = "poisson"
size = 3
rate = "10 Hz"

[[currents]]
target = "drive"
amplitude = "1 nA"
"#;
    let e = assert_bad(&text, 52, "currents[0].target");
    assert!(e.contains("spike source"), "{e}");
}

#[test]
fn syntax_error_in_a_later_array_table_names_its_index() {
    base_line(36, r#"connect = { rule = "all_to_all" }"#);
    assert_bad(&with_line(36, r#"connect = { rule = all_to_all }"#), 36, "projections[1].connect");
}

#[test]
fn unreadable_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let missing = dir.path().join("nope.toml");
    let o = engram().arg("run").arg(&missing).arg("--out").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.toml"));
    assert!(!out.exists());
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, b"\xff\xfe[run]\n").unwrap();
    let o = engram().arg("check").arg(&binary).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bad_command_line_overrides() {
    for args in [&["--duration", "5 mV"][..], &["--duration", "-1"], &["--threads", "0"]] {
        let f = run_model(BASE, args);
        assert_eq!(f.code, Some(2), "{args:?}: {}", f.stderr);
        assert!(!f.stderr.contains("panicked"), "{args:?}: {}", f.stderr);
        assert!(!f.out.exists(), "{args:?}");
    }
}

fn read_summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn failing_run_leaves_earlier_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let good = write_model(dir.path(), BASE);
    let o = engram().arg("run").arg(&good).arg("--out").arg(&out).arg("--quiet").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names = ["spikes.npz", "state.npz", "raster.png", "summary.json"];
    let before: Vec<Vec<u8>> = names.iter().map(|n| std::fs::read(out.join(n)).unwrap()).collect();

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, with_line(31, r#"delay = "-1 ms""#)).unwrap();
    let o = engram().arg("run").arg(&bad).arg("--out").arg(&out).arg("--quiet").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));

    let after: Vec<Vec<u8>> = names.iter().map(|n| std::fs::read(out.join(n)).unwrap()).collect();
    assert!(before == after, "the earlier output changed");
    let mut entries: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    entries.sort();
    assert_eq!(entries, ["raster.png", "spikes.npz", "state.npz", "summary.json"]);
    let mut siblings: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    siblings.sort();
    assert_eq!(siblings, ["bad.toml", "model.toml", "results"], "no staging directory is left");
    assert_eq!(read_summary(&out)["seed"], 3);
}

#[test]
fn good_run_writes_all_outputs_and_summary_fields() {
    let f = run_model(BASE, &[]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    for name in ["spikes.npz", "state.npz", "raster.png", "summary.json"] {
        let len = std::fs::metadata(f.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")).len();
        assert!(len > 0, "{name} is empty");
    }
    let png = std::fs::read(f.out.join("raster.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    for npz in ["spikes.npz", "state.npz"] {
        assert_eq!(&std::fs::read(f.out.join(npz)).unwrap()[..2], b"PK", "{npz} is a zip archive");
    }
    let s = read_summary(&f.out);
    assert!((s["duration_s"].as_f64().unwrap() - 0.02).abs() < 1e-12, "{s}");
    assert!((s["dt_s"].as_f64().unwrap() - 1e-4).abs() < 1e-15, "{s}");
    assert_eq!(s["seed"], 3);
    assert_eq!(s["threads"], 1);
    for key in ["wall_s", "setup_s", "events_per_s"] {
        assert!(s[key].as_f64().is_some_and(|x| x >= 0.0), "{key}: {s}");
    }
    assert!(s["synaptic_events"].as_u64().is_some_and(|x| x > 0), "{s}");
    let pops = s["populations"].as_array().unwrap();
    let exc = pops.iter().find(|p| p["name"] == "exc").expect("exc in summary");
    let inh = pops.iter().find(|p| p["name"] == "inh").expect("inh in summary");
    assert_eq!(exc["n"], 4);
    assert_eq!(inh["n"], 2);
    for p in [exc, inh] {
        for key in ["n", "spikes", "rate_hz", "cv_isi"] {
            assert!(p.get(key).is_some(), "population summary lacks `{key}`: {p}");
        }
    }
    // i_e = 300 pA drives exc to V_inf = -30 mV, above threshold: it fires.
    let spikes = exc["spikes"].as_u64().unwrap();
    assert!(spikes > 0);
    let rate = exc["rate_hz"].as_f64().unwrap();
    assert!((rate - spikes as f64 / (4.0 * 0.02)).abs() < 1e-9, "{exc}");
}

#[test]
fn command_line_overrides_are_recorded() {
    let f = run_model(BASE, &["--seed", "11", "--threads", "2", "--duration", "30 ms"]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let s = read_summary(&f.out);
    assert_eq!(s["seed"], 11);
    assert_eq!(s["threads"], 2);
    assert!((s["duration_s"].as_f64().unwrap() - 0.03).abs() < 1e-12, "{s}");
    assert_eq!(s["steps"], 300);

    // A bare --duration is in seconds.
    let f = run_model(BASE, &["--duration", "0.01"]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let s = read_summary(&f.out);
    assert!((s["duration_s"].as_f64().unwrap() - 0.01).abs() < 1e-12, "{s}");
    assert_eq!(s["seed"], 3);
}

/// `BASE` with a `plasticity` table added to its first projection (after its `delay`, line 31),
/// and optionally line `line` replaced by `text`.
fn with_plasticity(table: &str, line: Option<(usize, &str)>) -> String {
    let mut lines: Vec<String> = BASE.lines().map(String::from).collect();
    if let Some((n, text)) = line {
        lines[n - 1] = text.to_string();
    }
    lines.insert(31, format!("plasticity = {table}"));
    lines.join("\n") + "\n"
}

const STDP: &str = r#"{ rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = "0.01 nS", a_minus = "-0.0105 nS", w_max = "2 nS" }"#;

#[test]
fn plasticity_is_accepted_as_written() {
    base_line(31, r#"delay = "1 ms""#);
    let f = run_model(&with_plasticity(STDP, None), &[]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    // The learned weights are written with the state (an npz is a zip of .npy files).
    let state = std::fs::read(f.out.join("state.npz")).unwrap();
    for name in ["weights_projection0.npy", "weights_projection0_pre.npy", "weights_projection0_post.npy"] {
        assert!(state.windows(name.len()).any(|w| w == name.as_bytes()), "state.npz lacks {name}");
    }
}

#[test]
fn unknown_plasticity_rule() {
    let e = assert_bad(&with_plasticity(&STDP.replace("\"stdp\"", "\"bcm\""), None), 32, "projections[0].plasticity.rule");
    assert!(
        e.contains("unknown plasticity rule `bcm` (expected one of: stdp, triplet, tsodyks_markram, three_factor, astrocyte_stdp, synaptic_scaling, inhibitory_stdp)"),
        "{e}"
    );
}

#[test]
fn plasticity_on_an_incompatible_synapse() {
    let alpha = r#"synapse = { model = "alpha_cond", tau = "5 ms", e_rev = "0 mV", name = "exc" }"#;
    let e = assert_bad(&with_plasticity(STDP, Some((29, alpha))), 32, "projections[0].plasticity.rule");
    assert!(e.contains("not on alpha synapses"), "{e}");
}

#[test]
fn negative_learning_rate_where_not_allowed() {
    let e = assert_bad(&with_plasticity(&STDP.replace("\"0.01 nS\"", "\"-0.01 nS\""), None), 32, "projections[0].plasticity.a_plus");
    assert!(e.contains("must not be negative"), "{e}");
    let e = assert_bad(&with_plasticity(&STDP.replace("\"-0.0105 nS\"", "\"0.0105 nS\""), None), 32, "projections[0].plasticity.a_minus");
    assert!(e.contains("must not be positive"), "{e}");
}

#[test]
fn plasticity_parameters_in_the_wrong_unit() {
    let e = assert_bad(&with_plasticity(&STDP.replace("\"0.01 nS\"", "\"0.01 pA\""), None), 32, "projections[0].plasticity.a_plus");
    assert!(e.contains("expected a conductance"), "{e}");
}

const TRIPLET: &str = r#"{ rule = "triplet", tau_plus = "16.8 ms", tau_x = "101 ms", tau_minus = "33.7 ms", tau_y = "125 ms", a2_plus = "0.01 nS", a3_plus = "0.01 nS", a2_minus = "0.01 nS", a3_minus = "0.001 nS", w_max = "2 nS" }"#;

#[test]
fn plastic_weights_outside_their_bounds() {
    let e = assert_bad(&with_plasticity(STDP, Some((30, r#"weight = "3 nS""#))), 30, "projections[0].weight");
    assert!(e.contains("within [0, w_max"), "{e}");
}

#[test]
fn weight_changing_rules_take_drawn_delays() {
    let drawn = r#"delay = { uniform = ["0.5 ms", "2 ms"] }"#;
    for (table, rule) in [(STDP, "stdp"), (TRIPLET, "triplet"), (THREE_FACTOR, "three_factor"), (SYNAPTIC_SCALING, "synaptic_scaling")] {
        let f = run_model(&with_plasticity(table, Some((31, drawn))), &[]);
        assert_eq!(f.code, Some(0), "{rule}: {}", f.stderr);
        let state = std::fs::read(f.out.join("state.npz")).unwrap();
        let weights = b"weights_projection0.npy";
        assert!(state.windows(weights.len()).any(|w| w == weights), "{rule}: state.npz lacks the learned weights");
    }
    let drawn = r#"delay = { uniform = ["1 ms", "3 ms"] }"#;
    let f = run_model(&on_1_ms(&with_plasticity(ASTROCYTE_STDP, Some((31, drawn)))), &[]);
    assert_eq!(f.code, Some(0), "astrocyte_stdp: {}", f.stderr);
}
const TSODYKS: &str = r#"{ rule = "tsodyks_markram", u = 0.5, tau_rec = "800 ms", tau_fac = "0 ms" }"#;

#[test]
fn triplet_and_short_term_plasticity_are_accepted_and_recorded() {
    for (table, rule) in [(TRIPLET, "triplet"), (TSODYKS, "tsodyks_markram")] {
        let f = run_model(&with_plasticity(table, None), &[]);
        assert_eq!(f.code, Some(0), "{rule}: {}", f.stderr);
        let s = read_summary(&f.out);
        let plasticity = &s["model"]["projections"][0]["plasticity"];
        assert_eq!(plasticity["rule"], rule, "{s}");
        let state = std::fs::read(f.out.join("state.npz")).unwrap();
        let weights = b"weights_projection0.npy";
        // Triplet STDP changes the stored weights (written with the state); short-term
        // plasticity does not.
        assert_eq!(state.windows(weights.len()).any(|w| w == weights), rule == "triplet", "{rule}");
    }
    let s = read_summary(&run_model(&with_plasticity(TSODYKS, None), &[]).out);
    let p = &s["model"]["projections"][0]["plasticity"];
    assert!(p["u"] == 0.5 && p["tau_rec"] == 800.0 && p["tau_fac"] == 0.0, "{p}");
}

#[test]
fn bad_triplet_parameters() {
    let e = assert_bad(&with_plasticity(&TRIPLET.replace("a2_minus = \"0.01 nS\"", "a2_minus = \"-0.01 nS\""), None), 32, "projections[0].plasticity.a2_minus");
    assert!(e.contains("must not be negative"), "{e}");
    let e = assert_bad(&with_plasticity(&TRIPLET.replace("\"101 ms\"", "\"0 ms\""), None), 32, "projections[0].plasticity.tau_x");
    assert!(e.contains("must be positive"), "{e}");
    let e = assert_bad(&with_plasticity(&TRIPLET.replace(", w_max = \"2 nS\"", ""), None), 32, "projections[0].plasticity.w_max");
    assert!(e.contains("needs `w_max`"), "{e}");
    // A pair-STDP field in a triplet table.
    let e = assert_bad(&with_plasticity(&TRIPLET.replace("a3_plus", "a_plus"), None), 32, "projections[0].plasticity.a_plus");
    assert!(e.contains("unknown field `a_plus`") && e.contains("a3_plus"), "{e}");
}

#[test]
fn bad_tsodyks_markram_parameters() {
    for (from, to, field, message) in [
        ("u = 0.5", "u = 1.5", "u", "must be in (0, 1]"),
        ("u = 0.5", "u = 0", "u", "must be in (0, 1]"),
        ("\"800 ms\"", "\"0 ms\"", "tau_rec", "must be positive"),
        ("\"0 ms\"", "\"-1 ms\"", "tau_fac", "must not be negative"),
        ("\"800 ms\"", "\"800 mV\"", "tau_rec", "expected a time"),
    ] {
        let e = assert_bad(&with_plasticity(&TSODYKS.replace(from, to), None), 32, &format!("projections[0].plasticity.{field}"));
        assert!(e.contains(message), "{to}: {e}");
    }
}

const THREE_FACTOR: &str = r#"{ rule = "three_factor", modulator = "exc", tau_modulator = "20 ms", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = 1, a_minus = -1, tau_e = "200 ms", eta = "0.1 nS", w_max = "2 nS" }"#;
/// Astrocyte STDP on the excitatory projection, for `BASE` on a 1 ms step ([`on_1_ms`]).
const ASTROCYTE_STDP: &str = r#"{ rule = "astrocyte_stdp", pre_kind = "excitatory", eta_plus = "0.01 nS", w_min = "0 nS", w_max = "2 nS", w_a = "0.001 nS", b_a = "0.01 nS", liquid = ["exc", "inh"] }"#;
const SYNAPTIC_SCALING: &str = r#"{ rule = "synaptic_scaling", target_rate = "5 Hz", tau_rate = "100 ms", tau_scale = "1 s", w_max = "2 nS" }"#;

/// A model on a 1 ms step (delays and sampling of at least one step), same line numbers.
fn on_1_ms(text: &str) -> String {
    text.replace(r#"dt = "0.1 ms""#, r#"dt = "1 ms""#).replace(r#"delay = "0.5 ms""#, r#"delay = "1 ms""#).replace(r#"every = "0.1 ms""#, r#"every = "1 ms""#)
}

#[test]
fn modulated_and_homeostatic_rules_are_accepted_and_recorded() {
    for (text, rule) in [
        (with_plasticity(THREE_FACTOR, None), "three_factor"),
        (on_1_ms(&with_plasticity(ASTROCYTE_STDP, None)), "astrocyte_stdp"),
        (with_plasticity(SYNAPTIC_SCALING, None), "synaptic_scaling"),
    ] {
        let f = run_model(&text, &[]);
        assert_eq!(f.code, Some(0), "{rule}: {}", f.stderr);
        let s = read_summary(&f.out);
        assert_eq!(s["model"]["projections"][0]["plasticity"]["rule"], rule, "{s}");
        let state = std::fs::read(f.out.join("state.npz")).unwrap();
        let weights = b"weights_projection0.npy";
        assert!(state.windows(weights.len()).any(|w| w == weights), "{rule}: state.npz lacks the learned weights");
    }
    let s = read_summary(&run_model(&with_plasticity(THREE_FACTOR, None), &[]).out);
    let p = &s["model"]["projections"][0]["plasticity"];
    assert!(p["modulator"] == "exc" && p["tau_modulator"] == 20.0 && p["params"]["tau_e"] == 200.0, "{p}");
}

#[test]
fn three_factor_without_a_modulator_or_with_an_unknown_one() {
    let e = assert_bad(&with_plasticity(&THREE_FACTOR.replace(r#"modulator = "exc", "#, ""), None), 32, "projections[0].plasticity.modulator");
    assert!(e.contains("missing required field `modulator`"), "{e}");
    let e = assert_bad(&with_plasticity(&THREE_FACTOR.replace(r#"modulator = "exc""#, r#"modulator = "dopamine""#), None), 32, "projections[0].plasticity.modulator");
    assert!(e.contains("`dopamine` is not a population or spike source"), "{e}");
}

#[test]
fn bad_three_factor_parameters() {
    for (from, to, field, message) in [
        (r#"eta = "0.1 nS""#, r#"eta = "-0.1 nS""#, "eta", "must not be negative (the modulator carries the sign)"),
        ("a_plus = 1", "a_plus = -1", "a_plus", "must not be negative"),
        ("a_minus = -1", "a_minus = 1", "a_minus", "must not be positive"),
        (r#"tau_e = "200 ms""#, r#"tau_e = "0 ms""#, "tau_e", "must be positive"),
        (r#"tau_modulator = "20 ms""#, r#"tau_modulator = "20 mV""#, "tau_modulator", "expected a time"),
        (r#"eta = "0.1 nS""#, r#"eta = "0.1 pA""#, "eta", "expected a conductance"),
        (r#"w_max = "2 nS""#, r#"w_max = "2 nS", w_min = "-1 nS""#, "w_min", "must not be negative"),
        (r#"w_max = "2 nS""#, r#"w_max = "2 nS", tau_x = "5 ms""#, "tau_x", "unknown field `tau_x`"),
        (r#"tau_modulator = "20 ms""#, r#"tau_modulatr = "20 ms""#, "tau_modulatr", "did you mean `tau_modulator`?"),
    ] {
        let e = assert_bad(&with_plasticity(&THREE_FACTOR.replace(from, to), None), 32, &format!("projections[0].plasticity.{field}"));
        assert!(e.contains(message), "{to}: {e}");
    }
    // Initial weights outside the bounds.
    let e = assert_bad(&with_plasticity(THREE_FACTOR, Some((30, r#"weight = "3 nS""#))), 30, "projections[0].weight");
    assert!(e.contains("within [0, w_max"), "{e}");
}

#[test]
fn weight_changing_rules_on_an_incompatible_synapse() {
    let alpha = r#"synapse = { model = "alpha_cond", tau = "5 ms", e_rev = "0 mV", name = "exc" }"#;
    for table in [THREE_FACTOR, SYNAPTIC_SCALING] {
        let e = assert_bad(&with_plasticity(table, Some((29, alpha))), 32, "projections[0].plasticity.rule");
        assert!(e.contains("not on alpha synapses"), "{e}");
    }
    let e = assert_bad(&on_1_ms(&with_plasticity(ASTROCYTE_STDP, Some((29, alpha)))), 32, "projections[0].plasticity.rule");
    assert!(e.contains("not on alpha synapses"), "{e}");
    // Inhibitory astrocyte STDP keeps weights in [w_min, 0]: not a conductance.
    let inhibitory = ASTROCYTE_STDP.replace(r#"pre_kind = "excitatory", eta_plus = "0.01 nS", w_min = "0 nS", w_max = "2 nS""#, r#"pre_kind = "inhibitory", eta_plus = "0.01 nS", w_min = "-2 nS", w_max = "0 nS""#);
    let e = assert_bad(&on_1_ms(&with_plasticity(&inhibitory, None)), 32, "projections[0].plasticity.w_min");
    assert!(e.contains("a conductance weight must not be negative"), "{e}");
}

#[test]
fn bad_astrocyte_stdp_parameters() {
    // NALSM's rule is defined on a 1 ms step.
    let e = assert_bad(&with_plasticity(ASTROCYTE_STDP, None), 32, "projections[0].plasticity.rule");
    assert!(e.contains("1 ms step"), "{e}");
    for (from, to, field, message) in [
        (r#"pre_kind = "excitatory""#, r#"pre_kind = "modulatory""#, "pre_kind", "unknown pre_kind `modulatory`"),
        (r#"eta_plus = "0.01 nS""#, r#"eta_plus = "-0.01 nS""#, "eta_plus", "must not be negative"),
        (r#"w_a = "0.001 nS""#, r#"w_a = "-0.001 nS""#, "w_a", "must not be negative"),
        (r#"liquid = ["exc", "inh"]"#, r#"liquid = ["exc", "liquid"]"#, "liquid", "`liquid` is not a population or spike source"),
        (r#"liquid = ["exc", "inh"]"#, "liquid = []", "liquid", "must name at least one"),
        (r#"w_max = "2 nS""#, r#"w_max = "0 nS""#, "w_max", "must be greater than `w_min`"),
        (r#"b_a = "0.01 nS", "#, "", "b_a", "missing required field `b_a`"),
    ] {
        let e = assert_bad(&on_1_ms(&with_plasticity(&ASTROCYTE_STDP.replace(from, to), None)), 32, &format!("projections[0].plasticity.{field}"));
        assert!(e.contains(message), "{to}: {e}");
    }
}

#[test]
fn bad_synaptic_scaling_parameters() {
    for (from, to, field, message) in [
        (r#"target_rate = "5 Hz""#, r#"target_rate = "0 Hz""#, "target_rate", "must be positive"),
        (r#"tau_scale = "1 s""#, r#"tau_scale = "-1 s""#, "tau_scale", "must be positive"),
        (r#"w_max = "2 nS""#, r#"w_max = "2 nS", eta = "0.1 nS""#, "eta", "unknown field `eta`"),
    ] {
        let e = assert_bad(&with_plasticity(&SYNAPTIC_SCALING.replace(from, to), None), 32, &format!("projections[0].plasticity.{field}"));
        assert!(e.contains(message), "{to}: {e}");
    }
    // Scaling inhibitory (negative) weights up would push the rate away from the target.
    let current = r#"synapse = { model = "exp_current", tau = "5 ms", name = "exc" }"#;
    let text = with_plasticity(&SYNAPTIC_SCALING.replace("2 nS", "2 pA"), Some((29, current))).replace(r#"weight = "1 nS""#, r#"weight = "-1 pA""#);
    let e = assert_bad(&text, 30, "projections[0].weight");
    assert!(e.contains("must not be negative"), "{e}");
}

/// `BASE` with the first population's model set to `model` (line 10) and a `homeostasis`
/// table added after its params (line 12).
fn with_homeostasis(model: &str, table: &str) -> String {
    base_line(10, r#"model = "lif""#);
    let mut lines: Vec<String> = BASE.lines().map(String::from).collect();
    lines[9] = format!("model = \"{model}\"");
    lines.insert(11, format!("homeostasis = {table}"));
    lines.join("\n") + "\n"
}

const HOMEOSTASIS: &str = r#"{ target_rate = "5 Hz", tau_rate = "200 ms", eta_threshold = "1 mV" }"#;

#[test]
fn threshold_adaptation_is_accepted_on_adaptive_lif_only() {
    let f = run_model(&with_homeostasis("adaptive_lif", HOMEOSTASIS), &[]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let s = read_summary(&f.out);
    let h = &s["model"]["populations"][0]["homeostasis"];
    assert!(h["target_rate"] == 0.005 && h["eta_threshold"] == 1.0, "{h}");
    let e = assert_bad(&with_homeostasis("lif", HOMEOSTASIS), 12, "populations[0].homeostasis");
    assert!(e.contains("adaptive_lif"), "{e}");
    for (from, to, field, message) in [
        (r#"eta_threshold = "1 mV""#, r#"eta_threshold = "-1 mV""#, "eta_threshold", "must not be negative"),
        (r#"tau_rate = "200 ms""#, r#"tau_rate = "0 ms""#, "tau_rate", "must be positive"),
        (r#"target_rate = "5 Hz""#, r#"target_rate = "5 mV""#, "target_rate", "expected a rate"),
        (r#"eta_threshold = "1 mV""#, r#"eta_threshold = "1 mV", tau_scale = "1 s""#, "tau_scale", "unknown field `tau_scale`"),
    ] {
        let e = assert_bad(&with_homeostasis("adaptive_lif", &HOMEOSTASIS.replace(from, to)), 12, &format!("populations[0].homeostasis.{field}"));
        assert!(e.contains(message), "{to}: {e}");
    }
}

const INHIBITORY_STDP: &str = r#"{ rule = "inhibitory_stdp", tau = "20 ms", eta = "0.01 nS", target_rate = "5 Hz", w_max = "20 nS" }"#;

/// `BASE` with a `plasticity` table added to its second, inhibitory projection (after its
/// `delay`, line 39: the table is line 40), and optionally line `line` replaced by `text`.
fn with_inhibitory_plasticity(table: &str, line: Option<(usize, &str)>) -> String {
    base_line(39, r#"delay = "0.5 ms""#);
    let mut lines: Vec<String> = BASE.lines().map(String::from).collect();
    if let Some((n, text)) = line {
        lines[n - 1] = text.to_string();
    }
    lines.insert(39, format!("plasticity = {table}"));
    lines.join("\n") + "\n"
}

#[test]
fn inhibitory_stdp_is_accepted_on_inhibitory_synapses() {
    let f = run_model(&with_inhibitory_plasticity(INHIBITORY_STDP, None), &[]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let s = read_summary(&f.out);
    let p = &s["model"]["projections"][1]["plasticity"];
    assert!(p["rule"] == "inhibitory_stdp" && p["target_rate"] == 0.005 && p["tau"] == 20.0, "{p}");
    let state = std::fs::read(f.out.join("state.npz")).unwrap();
    let weights = b"weights_projection1.npy";
    assert!(state.windows(weights.len()).any(|w| w == weights), "state.npz lacks the learned weights");
    // Current synapses take non-positive weights, whose magnitude the rule changes.
    let current = r#"synapse = { model = "exp_current", tau = "10 ms", name = "inh" }"#;
    let text = with_inhibitory_plasticity(&INHIBITORY_STDP.replace(" nS", " pA"), Some((37, current))).replace(r#"weight = "2 nS""#, r#"weight = "-2 pA""#);
    let f = run_model(&text, &[]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
}

#[test]
fn inhibitory_stdp_on_a_synapse_that_does_not_inhibit() {
    // The excitatory projection (E_rev 0 mV, above the -50 mV threshold).
    let e = assert_bad(&with_plasticity(INHIBITORY_STDP, None), 29, "projections[0].synapse");
    assert!(e.contains("reversal potential 0 mV is not below the postsynaptic threshold -50 mV"), "{e}");
    // A positive current weight excites.
    let current = r#"synapse = { model = "exp_current", tau = "10 ms", name = "inh" }"#;
    let text = with_inhibitory_plasticity(&INHIBITORY_STDP.replace(" nS", " pA"), Some((37, current))).replace(r#"weight = "2 nS""#, r#"weight = "2 pA""#);
    let e = assert_bad(&text, 38, "projections[1].weight");
    assert!(e.contains("must not be positive"), "{e}");
    let alpha = r#"synapse = { model = "alpha_cond", tau = "10 ms", e_rev = "-80 mV", name = "inh" }"#;
    let e = assert_bad(&with_inhibitory_plasticity(INHIBITORY_STDP, Some((37, alpha))), 40, "projections[1].plasticity.rule");
    assert!(e.contains("not on alpha synapses"), "{e}");
}

#[test]
fn bad_inhibitory_stdp_parameters() {
    for (from, to, field, message) in [
        (r#"eta = "0.01 nS""#, r#"eta = "-0.01 nS""#, "eta", "must be positive (a negative rate would drive the neuron away from its target rate)"),
        (r#", target_rate = "5 Hz""#, "", "target_rate", "missing required field `target_rate`"),
        (r#"target_rate = "5 Hz""#, r#"target_rate = "0 Hz""#, "target_rate", "must be positive"),
        (r#"tau = "20 ms""#, r#"tau = "20 mV""#, "tau", "expected a time"),
        (r#"w_max = "20 nS""#, r#"w_max = "20 pA""#, "w_max", "expected a conductance"),
        (r#"w_max = "20 nS""#, r#"w_max = "20 nS", a_plus = "0.1 nS""#, "a_plus", "unknown field `a_plus`"),
    ] {
        let e = assert_bad(&with_inhibitory_plasticity(&INHIBITORY_STDP.replace(from, to), None), 40, &format!("projections[1].plasticity.{field}"));
        assert!(e.contains(message), "{to}: {e}");
    }
    // Initial weights above w_max.
    let e = assert_bad(&with_inhibitory_plasticity(INHIBITORY_STDP, Some((38, r#"weight = "30 nS""#))), 38, "projections[1].weight");
    assert!(e.contains("within [0, w_max"), "{e}");
}
