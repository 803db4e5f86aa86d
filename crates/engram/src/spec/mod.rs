//! The network description: plain data read from a TOML model file, with units checked and
//! every semantic error located by file, line and field. See the README's model-file
//! reference for the format.

pub mod files;
pub mod reader;
pub mod values;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::Serialize;

use crate::error::{EngramError, Result};
use crate::neurons::{self, NeuronParams};
use crate::plasticity::astrocyte::AstroStdpSpec;
use crate::plasticity::homeostasis::HomeostasisParams;
use crate::plasticity::inhibitory::InhibitoryStdpParams;
use crate::plasticity::short_term::TsodyksParams;
use crate::plasticity::stdp::StdpParams;
use crate::plasticity::three_factor::ThreeFactorSpec;
use crate::plasticity::triplet::TripletParams;
use crate::synapses::{self, SynapseModel};
use crate::units::Dim;
use reader::{Source, SpannedName, TableReader};
pub use files::WeightSpec;
pub use values::ValueSpec;

#[derive(Debug, Clone, Serialize)]
pub struct NetworkSpec {
    pub run: RunSpec,
    pub populations: Vec<PopulationSpec>,
    pub sources: Vec<SourceSpec>,
    pub projections: Vec<ProjectionSpec>,
    pub currents: Vec<CurrentSpec>,
    pub monitors: MonitorSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    /// Integration step (ms).
    pub dt: f64,
    /// Simulated time (ms).
    pub duration: f64,
    pub seed: u64,
    pub threads: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PopulationSpec {
    pub name: String,
    pub size: usize,
    pub neuron: NeuronParams,
    /// Initial values: neuron state variables, or `s_<synapse name>` for a synapse channel.
    pub init: Vec<(String, ValueSpec)>,
    /// Intrinsic threshold adaptation toward a target rate (`plasticity::homeostasis`).
    pub homeostasis: Option<HomeostasisParams>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceKind {
    /// Independent Poisson spike trains at `rate` (1/ms).
    Poisson { rate: f64 },
    /// Given spikes: `ids[k]` fires at `times[k]` (ms).
    SpikeTimes { ids: Vec<u32>, times: Vec<f64> },
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceSpec {
    pub name: String,
    pub size: usize,
    pub kind: SourceKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ConnectRule {
    AllToAll { autapses: bool },
    FixedProbability { p: f64, autapses: bool },
    FixedInDegree { k: usize, autapses: bool },
    OneToOne,
    Explicit { pre: Vec<u32>, post: Vec<u32> },
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectionSpec {
    pub name: String,
    pub pre: String,
    pub post: String,
    pub connect: ConnectRule,
    pub weight: WeightSpec,
    /// Delay (ms), at least dt.
    pub delay: ValueSpec,
    pub synapse: SynapseModel,
    /// Name of the synapse channel on the postsynaptic side (for `init` and monitors).
    pub channel: Option<String>,
    /// The plasticity rule of the projection's synapses, if any.
    pub plasticity: Option<Plasticity>,
}

/// A projection's plasticity rule, as `plasticity = { rule = "...", ... }` selects it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Plasticity {
    /// Pair STDP (`plasticity::stdp`): changes the stored weights.
    Stdp(StdpParams),
    /// Triplet STDP (`plasticity::triplet`): changes the stored weights.
    Triplet(TripletParams),
    /// Tsodyks-Markram short-term plasticity (`plasticity::short_term`): scales each
    /// transmitted spike by the synapse's efficacy, leaving the stored weight as it is.
    TsodyksMarkram(TsodyksParams),
    /// Eligibility trace times a modulator (`plasticity::three_factor`): changes the weights.
    ThreeFactor(ThreeFactorSpec),
    /// NALSM's STDP with astrocyte-controlled depression (`plasticity::astrocyte`).
    AstrocyteStdp(AstroStdpSpec),
    /// Synaptic scaling toward a target rate (`plasticity::homeostasis`).
    SynapticScaling(HomeostasisParams),
    /// Inhibitory STDP holding the postsynaptic neurons at a target rate
    /// (`plasticity::inhibitory`): changes the strength of inhibitory weights.
    InhibitoryStdp(InhibitoryStdpParams),
}

/// An injected current: `amplitude` from `start` to `stop` (ms) into `neurons` of `target`
/// (all neurons when absent).
#[derive(Debug, Clone, Serialize)]
pub struct CurrentSpec {
    pub target: String,
    pub neurons: Option<Vec<u32>>,
    pub amplitude: f64,
    pub start: f64,
    pub stop: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct MonitorSpec {
    /// Populations and sources whose spikes are written (all when None).
    pub spikes: Option<Vec<String>>,
    pub states: Vec<StateMonitorSpec>,
    pub rates: Vec<RateMonitorSpec>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateMonitorSpec {
    pub population: String,
    pub variables: Vec<String>,
    pub neurons: Vec<u32>,
    /// Sampling interval (ms).
    pub every: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateMonitorSpec {
    pub population: String,
    /// Bin width (ms).
    pub bin: f64,
}

/// Reads and validates a model file.
pub fn load(path: &Path) -> Result<NetworkSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| EngramError::io(path, e))?;
    parse(path, &text)
}

/// Parses and validates model-file text; `path` is used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<NetworkSpec> {
    let src = Source { file: path, text };
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let field = reader::field_at(text, span.start);
        let field = if field.is_empty() { "(syntax)".to_string() } else { field };
        src.error(span, &field, format!("TOML syntax error: {}", e.message().trim()))
    })?;
    let root = TableReader::new(&src, doc.get_ref(), doc.span(), String::new());
    root.audit(&["run", "populations", "sources", "projections", "currents", "monitors"])?;
    let spec = Loader { names: HashMap::new(), init_spans: Vec::new() }.load(&root)?;
    root.finish()?;
    Ok(spec)
}

const POPULATION_KEYS: &[&str] = &["name", "size", "model", "params", "init", "homeostasis"];
const HOMEOSTASIS_KEYS: &[&str] = &["target_rate", "tau_rate", "eta_threshold"];
const SOURCE_KEYS: &[&str] = &["name", "kind", "size", "rate", "ids", "times"];
const PROJECTION_KEYS: &[&str] = &["name", "pre", "post", "connect", "synapse", "weight", "delay", "plasticity"];
const STDP_KEYS: &[&str] = &["rule", "tau_plus", "tau_minus", "a_plus", "a_minus", "w_max", "bounds", "interaction"];
const TRIPLET_KEYS: &[&str] =
    &["rule", "tau_plus", "tau_x", "tau_minus", "tau_y", "a2_plus", "a3_plus", "a2_minus", "a3_minus", "w_max"];
const TSODYKS_MARKRAM_KEYS: &[&str] = &["rule", "u", "tau_rec", "tau_fac"];
const THREE_FACTOR_KEYS: &[&str] = &[
    "rule", "modulator", "tau_modulator", "modulator_baseline", "tau_plus", "tau_minus", "a_plus", "a_minus", "tau_e", "eta", "w_min", "w_max",
];
const ASTROCYTE_STDP_KEYS: &[&str] = &[
    "rule", "pre_kind", "eta_plus", "w_min", "w_max", "trace_decay", "trace_increment", "tau_a", "w_a", "b_a", "a_initial", "liquid", "input",
];
const SYNAPTIC_SCALING_KEYS: &[&str] = &["rule", "target_rate", "tau_rate", "tau_scale", "w_max"];
const INHIBITORY_STDP_KEYS: &[&str] = &["rule", "tau", "eta", "target_rate", "w_max"];
/// Names accepted in `plasticity = { rule = "..." }`, with the fields each takes.
pub const PLASTICITY_RULES: &[(&str, &[&str])] = &[
    ("stdp", STDP_KEYS),
    ("triplet", TRIPLET_KEYS),
    ("tsodyks_markram", TSODYKS_MARKRAM_KEYS),
    ("three_factor", THREE_FACTOR_KEYS),
    ("astrocyte_stdp", ASTROCYTE_STDP_KEYS),
    ("synaptic_scaling", SYNAPTIC_SCALING_KEYS),
    ("inhibitory_stdp", INHIBITORY_STDP_KEYS),
];
const CONNECT_KEYS: &[&str] = &["rule", "p", "k", "autapses", "pre", "post"];
const SYNAPSE_KEYS: &[&str] = &["model", "name", "tau", "e_rev"];
const CURRENT_KEYS: &[&str] = &["target", "neurons", "amplitude", "start", "stop"];
const MONITOR_KEYS: &[&str] = &["spikes", "state", "rate"];
const STATE_MONITOR_KEYS: &[&str] = &["population", "variables", "neurons", "every"];
const RATE_MONITOR_KEYS: &[&str] = &["population", "bin"];

/// What a name refers to.
#[derive(Clone, Copy, PartialEq)]
enum Entity {
    Population(usize),
    Source(usize),
}

struct Loader {
    names: HashMap<String, Entity>,
    /// Per population: the `init.s_<channel>` keys with the path and span of each, checked
    /// against the synapse channels once the projections are read.
    init_spans: Vec<Vec<ChannelInit>>,
}

/// A synapse channel on a postsynaptic population, formed as the engine forms them
/// (`Network::build`): a projection joins the first channel with the same synapse model whose
/// name agrees (or either is unnamed), else opens a new one.
struct ChannelSlot {
    model: SynapseModel,
    name: Option<String>,
}

impl Loader {
    fn load(&mut self, root: &TableReader) -> Result<NetworkSpec> {
        let run = read_run(root)?;
        let mut populations = Vec::new();
        for t in root.tables("populations")? {
            t.audit(POPULATION_KEYS)?;
            let (p, spans) = read_population(&t)?;
            self.declare(&t, &p.name, Entity::Population(populations.len()))?;
            populations.push(p);
            self.init_spans.push(spans);
            t.finish()?;
        }
        let mut sources = Vec::new();
        for t in root.tables("sources")? {
            t.audit(SOURCE_KEYS)?;
            let s = read_source(&t, &run)?;
            self.declare(&t, &s.name, Entity::Source(sources.len()))?;
            sources.push(s);
            t.finish()?;
        }
        if populations.is_empty() {
            return Err(root.table_error("the model defines no `[[populations]]`"));
        }
        let size_of = |e: Entity| match e {
            Entity::Population(i) => populations[i].size,
            Entity::Source(i) => sources[i].size,
        };
        let mut projections = Vec::new();
        let mut channels: Vec<Vec<ChannelSlot>> = (0..populations.len()).map(|_| Vec::new()).collect();
        for (i, t) in root.tables("projections")?.into_iter().enumerate() {
            t.audit(PROJECTION_KEYS)?;
            let pre = self.lookup(&t, "pre", true)?;
            let post = self.lookup(&t, "post", false)?;
            let Entity::Population(post_index) = post else { unreachable!("lookup rejects sources as targets") };
            let post_neuron = &populations[post_index].neuron;
            let (proj, name_span) = read_projection(&t, i, &run, size_of(pre), size_of(post), pre == post, post_neuron, &self.names)?;
            join_channel(&t, &mut channels[post_index], &proj, name_span)?;
            projections.push(proj);
            t.finish()?;
        }
        for (p, inits) in self.init_spans.iter().enumerate() {
            for (key, field, span) in inits {
                let channel = key.strip_prefix("s_").expect("only channel keys are kept");
                match channels[p].iter().find(|c| c.name.as_deref() == Some(channel)) {
                    None => {
                        let named: Vec<String> = channels[p].iter().filter_map(|c| c.name.as_ref().map(|n| format!("s_{n}"))).collect();
                        let have = if named.is_empty() {
                            "it has no named synapse channels; name one with `synapse = { ..., name = \"...\" }`".to_string()
                        } else {
                            format!("it has: {}", named.join(", "))
                        };
                        return Err(src_error(root, span.clone(), field, format!(
                            "no projection onto `{}` has a synapse named `{channel}` ({have})",
                            populations[p].name
                        )));
                    }
                    Some(c) if c.model == SynapseModel::Delta => {
                        return Err(src_error(root, span.clone(), field, "delta synapses have no state to initialise"));
                    }
                    Some(_) => {}
                }
            }
        }
        let mut currents = Vec::new();
        for t in root.tables("currents")? {
            t.audit(CURRENT_KEYS)?;
            let target = self.lookup(&t, "target", false)?;
            if let Entity::Population(p) = target
                && matches!(populations[p].neuron, NeuronParams::Leaky(_))
            {
                return Err(t.field_error("target", "a leaky population takes no injected current (give it a `bias`)"));
            }
            currents.push(read_current(&t, size_of(target))?);
            t.finish()?;
        }
        let monitors = match root.opt_table("monitors")? {
            Some(t) => {
                t.audit(MONITOR_KEYS)?;
                let m = self.read_monitors(&t, &populations, &run)?;
                t.finish()?;
                m
            }
            None => MonitorSpec::default(),
        };
        Ok(NetworkSpec { run, populations, sources, projections, currents, monitors })
    }

    fn declare(&mut self, t: &TableReader, name: &str, entity: Entity) -> Result<()> {
        if self.names.insert(name.to_string(), entity).is_some() {
            let (_, span) = t.req_str("name")?;
            return Err(t.error_at("name", span, format!("the name `{name}` is defined twice")));
        }
        Ok(())
    }

    /// Resolves a population (or, if `sources_allowed`, a source) named by field `key`.
    fn lookup(&self, t: &TableReader, key: &str, sources_allowed: bool) -> Result<Entity> {
        let (name, span) = t.req_str(key)?;
        match self.names.get(name) {
            Some(&e @ Entity::Population(_)) => Ok(e),
            Some(&e @ Entity::Source(_)) if sources_allowed => Ok(e),
            Some(Entity::Source(_)) => Err(t.error_at(key, span, format!("`{name}` is a spike source; it cannot receive input"))),
            None => Err(t.error_at(key, span, format!("population `{name}` is not defined"))),
        }
    }

    fn read_monitors(&self, t: &TableReader, populations: &[PopulationSpec], run: &RunSpec) -> Result<MonitorSpec> {
        let spikes = match t.opt_str_list("spikes")? {
            None => None,
            Some(list) => {
                for (name, span) in &list {
                    if !self.names.contains_key(name) {
                        return Err(t.error_at("spikes", span.clone(), format!("population `{name}` is not defined")));
                    }
                }
                Some(list.into_iter().map(|(n, _)| n).collect())
            }
        };
        let mut states = Vec::new();
        for s in t.tables("state")? {
            s.audit(STATE_MONITOR_KEYS)?;
            let Entity::Population(p) = self.lookup(&s, "population", false)? else { unreachable!() };
            let pop = &populations[p];
            let vars = s.opt_str_list("variables")?.unwrap_or_else(|| vec![("v".to_string(), 0..0)]);
            let allowed = pop.neuron.vars();
            for (v, span) in &vars {
                if !allowed.contains(&v.as_str()) {
                    return Err(s.error_at("variables", span.clone(), format!("`{v}` is not a variable of `{}` (it has: {})", pop.name, allowed.join(", "))));
                }
            }
            let neurons = s.opt_uint_list("neurons")?.unwrap_or_else(|| (0..pop.size.min(10) as u64).collect());
            check_indices(&s, "neurons", &neurons, pop.size)?;
            let every = s.quantity_or("every", Dim::TIME, run.dt)?;
            if every < run.dt * (1.0 - 1e-9) {
                return Err(s.field_error("every", format!("`every` ({every} ms) is shorter than dt ({} ms)", run.dt)));
            }
            states.push(StateMonitorSpec {
                population: pop.name.clone(),
                variables: vars.into_iter().map(|(v, _)| v).collect(),
                neurons: neurons.into_iter().map(|n| n as u32).collect(),
                every,
            });
            s.finish()?;
        }
        let mut rates = Vec::new();
        for r in t.tables("rate")? {
            r.audit(RATE_MONITOR_KEYS)?;
            let (name, _) = r.req_str("population")?;
            self.lookup(&r, "population", true)?;
            let bin = r.quantity_or("bin", Dim::TIME, 1.0)?;
            if bin < run.dt * (1.0 - 1e-9) {
                return Err(r.field_error("bin", format!("`bin` ({bin} ms) is shorter than dt ({} ms)", run.dt)));
            }
            rates.push(RateMonitorSpec { population: name.to_string(), bin });
            r.finish()?;
        }
        Ok(MonitorSpec { spikes, states, rates })
    }
}

fn read_run(root: &TableReader) -> Result<RunSpec> {
    let Some(t) = root.opt_table("run")? else {
        return Err(root.missing("run"));
    };
    t.audit(&["dt", "duration", "seed", "threads"])?;
    let dt = t.quantity_or("dt", Dim::TIME, 0.1)?;
    if dt <= 0.0 {
        return Err(t.field_error("dt", format!("`dt` must be positive, got {dt} ms")));
    }
    let duration = t.req_quantity("duration", Dim::TIME)?;
    if duration < 0.0 {
        return Err(t.field_error("duration", "`duration` must not be negative"));
    }
    let seed = t.opt_uint("seed")?.unwrap_or(1);
    let threads = t.opt_uint("threads")?.unwrap_or(1) as usize;
    if threads == 0 {
        return Err(t.field_error("threads", "`threads` must be at least 1"));
    }
    t.finish()?;
    Ok(RunSpec { dt, duration, seed, threads })
}

/// An `init.s_<channel>` key of a population: the key, its field path and its span.
type ChannelInit = (String, String, Range<usize>);

/// A population, and the `init.s_<channel>` keys it sets.
fn read_population(t: &TableReader) -> Result<(PopulationSpec, Vec<ChannelInit>)> {
    let (name, _) = t.req_str("name")?;
    let size = t.req_uint("size")? as usize;
    if size == 0 || size > u32::MAX as usize {
        return Err(t.field_error("size", format!("`size` must be between 1 and {}", u32::MAX)));
    }
    let (model, model_span) = t.req_str("model")?;
    let params = t.opt_table("params")?;
    let empty = toml::de::DeTable::default();
    let params = params
        .unwrap_or_else(|| TableReader::new(t.src, &empty, model_span.clone(), t.field_path("params")))
        .deferring_missing();
    let neuron = match NeuronParams::read(model, &params, size) {
        Some(p) => p?,
        None => {
            return Err(t.error_at(
                "model",
                model_span,
                format!("unknown neuron model `{model}` (expected one of: {})", neurons::MODEL_NAMES.join(", ")),
            ));
        }
    };
    params.finish()?;
    let mut init = Vec::new();
    let mut channel_keys = Vec::new();
    if let Some(it) = t.opt_table("init")? {
        for &var in neuron.vars() {
            if let Some(v) = ValueSpec::read(&it, var, var_dim(&neuron, var))? {
                init.push((var.to_string(), v));
            }
        }
        for key in it.keys() {
            if let Some(channel) = key.strip_prefix("s_") {
                let v = it.get(&key).expect("key exists");
                let spec = ValueSpec::read_value(&it, &key, v, Dim::DIMENSIONLESS).or_else(|_| {
                    [Dim::CONDUCTANCE, Dim::CURRENT, Dim::VOLTAGE]
                        .iter()
                        .find_map(|&d| ValueSpec::read_value(&it, &key, v, d).ok())
                        .ok_or_else(|| it.error_at(&key, v.span(), "expected a conductance, current or voltage"))
                })?;
                init.push((format!("s_{channel}"), spec));
                channel_keys.push((key.clone(), it.field_path(&key), v.span()));
            }
        }
        it.finish()?;
    }
    let homeostasis = match t.opt_table("homeostasis")? {
        None => None,
        Some(h) => {
            h.audit(HOMEOSTASIS_KEYS)?;
            if !neuron.vars().contains(&"th") {
                return Err(t.field_error(
                    "homeostasis",
                    format!(
                        "threshold adaptation needs a neuron with a threshold variable `th`: use model = \"adaptive_lif\" (with th_jump = \"0 mV\" it is a LIF neuron), not `{model}`"
                    ),
                ));
            }
            let p = HomeostasisParams::read_threshold(&h)?;
            h.finish()?;
            Some(p)
        }
    };
    Ok((PopulationSpec { name: name.to_string(), size, neuron, init, homeostasis }, channel_keys))
}

/// Dimension of a neuron state variable.
fn var_dim(neuron: &NeuronParams, var: &str) -> Dim {
    match (neuron, var) {
        (NeuronParams::Leaky(_), _) => Dim::DIMENSIONLESS,
        (_, "v") => Dim::VOLTAGE,
        (NeuronParams::Izhikevich(_), "u") => Dim::VOLTAGE_RATE,
        (_, "w") => Dim::CURRENT,
        (_, "th") => Dim::VOLTAGE,
        _ => Dim::DIMENSIONLESS,
    }
}

fn read_source(t: &TableReader, run: &RunSpec) -> Result<SourceSpec> {
    let (name, _) = t.req_str("name")?;
    let (kind, kind_span) = t.req_str("kind")?;
    let (size, kind) = match kind {
        "poisson" => {
            let size = t.req_uint("size")? as usize;
            let rate = t.req_quantity("rate", Dim::RATE)?;
            if rate < 0.0 {
                return Err(t.field_error("rate", "`rate` must not be negative"));
            }
            if rate * run.dt > 1.0 {
                return Err(t.field_error("rate", format!("`rate` {} Hz exceeds one spike per step (1/dt)", rate * 1e3)));
            }
            (size, SourceKind::Poisson { rate })
        }
        "spike_times" => {
            let ids = t.opt_uint_list("ids")?.ok_or_else(|| t.missing("ids"))?;
            let (items, span) = t.opt_array("times")?.ok_or_else(|| t.missing("times"))?;
            let times = items.iter().map(|v| t.quantity_value("times", v, Dim::TIME)).collect::<Result<Vec<_>>>()?;
            if ids.len() != times.len() {
                return Err(t.error_at("times", span, format!("{} times for {} ids", times.len(), ids.len())));
            }
            if let Some(&bad) = times.iter().find(|&&x| x < 0.0) {
                return Err(t.error_at("times", span, format!("negative spike time {bad} ms")));
            }
            let size = match t.opt_uint("size")? {
                Some(s) => s as usize,
                None => ids.iter().max().map_or(1, |&m| m as usize + 1),
            };
            check_indices(t, "ids", &ids, size)?;
            (size, SourceKind::SpikeTimes { ids: ids.into_iter().map(|i| i as u32).collect(), times })
        }
        other => {
            return Err(t.error_at("kind", kind_span, format!("unknown source kind `{other}` (expected poisson or spike_times)")));
        }
    };
    if size == 0 || size > u32::MAX as usize {
        return Err(t.field_error("size", format!("`size` must be between 1 and {}", u32::MAX)));
    }
    Ok(SourceSpec { name: name.to_string(), size, kind })
}

fn check_indices(t: &TableReader, key: &str, ids: &[u64], size: usize) -> Result<()> {
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= size) {
        return Err(t.field_error(key, format!("`{key}` contains index {bad}, but the population has {size} neurons")));
    }
    Ok(())
}

/// Reads projection `index` onto neurons `post_neuron` (a leaky population takes delta
/// synapses with dimensionless weights only); also returns the span of its `synapse.name`,
/// if any.
#[allow(clippy::too_many_arguments)]
fn read_projection(
    t: &TableReader,
    index: usize,
    run: &RunSpec,
    n_pre: usize,
    n_post: usize,
    same_population: bool,
    post_neuron: &NeuronParams,
    names: &HashMap<String, Entity>,
) -> Result<(ProjectionSpec, Option<Range<usize>>)> {
    let leaky = matches!(post_neuron, NeuronParams::Leaky(_));
    let name = t.opt_str("name")?.map_or_else(|| format!("projection{index}"), |(n, _)| n.to_string());
    let (pre, _) = t.req_str("pre")?;
    let (post, _) = t.req_str("post")?;
    let (synapse, channel) = read_synapse(t)?;
    if leaky && synapse != SynapseModel::Delta {
        return Err(t.field_error("synapse", format!("`{post}` is a leaky population: its synapses must be \"delta\" (weights add to I_t)")));
    }
    if leaky && t.get("plasticity").is_some() {
        return Err(t.field_error("plasticity", format!("`{post}` is a leaky population: its dimensionless weights take no plasticity rule")));
    }
    let connect = read_connect(t, n_pre, n_post, same_population)?;
    let weight_dim = if leaky { Dim::DIMENSIONLESS } else { synapse.weight_dim() };
    let weight = WeightSpec::read(t, "weight", weight_dim, n_pre, n_post)?.ok_or_else(|| t.missing("weight"))?;
    if synapse.is_conductance() && weight.range().0 < 0.0 {
        let span = t.get("weight").map(|v| v.span()).unwrap_or(0..0);
        let message = if matches!(weight, WeightSpec::Value(ValueSpec::Normal { .. })) {
            "a conductance weight must not be negative, and a normal distribution reaches negative values: use uniform"
        } else {
            "a conductance weight must not be negative (use a reversal potential for inhibition)"
        };
        return Err(t.error_at("weight", span, message));
    }
    let delay = ValueSpec::read(t, "delay", Dim::TIME)?.unwrap_or(ValueSpec::Fixed(run.dt));
    let delay_span = t.get("delay").map(|v| v.span()).unwrap_or(0..0);
    let (low, high) = delay.range();
    if matches!(delay, ValueSpec::Normal { .. }) {
        return Err(t.error_at("delay", delay_span, "delays cannot be drawn from a normal distribution (it reaches negative values): use uniform"));
    }
    if low < 0.0 {
        return Err(t.error_at("delay", delay_span, format!("negative delay {low} ms")));
    }
    if low < run.dt * (1.0 - 1e-9) {
        return Err(t.error_at("delay", delay_span, format!("delay {low} ms is shorter than dt = {} ms (the minimum delay is one step)", run.dt)));
    }
    let max_steps = u16::MAX as u32;
    if crate::connectivity::delay_steps(high, run.dt) > max_steps {
        return Err(t.error_at(
            "delay",
            delay_span,
            format!("delay {high} ms is longer than the supported {max_steps} steps of dt = {} ms", run.dt),
        ));
    }
    let (channel, name_span) = match channel {
        Some((n, span)) => (Some(n), Some(span)),
        None => (None, None),
    };
    let plasticity = read_plasticity(t, &synapse, &weight, run, post_neuron, names)?;
    let spec = ProjectionSpec { name, pre: pre.to_string(), post: post.to_string(), connect, weight, delay, synapse, channel, plasticity };
    Ok((spec, name_span))
}

/// The projection's `plasticity` table, if any. Weight-changing rules (pair and triplet
/// STDP, three-factor, astrocyte STDP, synaptic scaling) need a weight they can change on
/// delta, exponential and conductance synapses (alpha kernels store scaled weights) and
/// initial weights within their bounds (triplet STDP without `w_max` is unbounded, so not
/// allowed on conductances, whose weights must stay non-negative; synaptic scaling only
/// takes non-negative weights); all take per-synapse delays. Names in the rule (the three-factor `modulator`, the astrocyte's
/// `liquid` and `input`) must be populations or sources. Astrocyte STDP runs on NALSM's
/// 1 ms step. Inhibitory STDP takes inhibitory synapses only: conductances reversing below
/// the threshold of `post_neuron`, or non-positive current and voltage weights (it bounds
/// their magnitude to [0, w_max]). Tsodyks-Markram scales transmitted spikes and takes any
/// synapse and delays.
fn read_plasticity(
    t: &TableReader,
    synapse: &SynapseModel,
    weight: &WeightSpec,
    run: &RunSpec,
    post_neuron: &NeuronParams,
    names: &HashMap<String, Entity>,
) -> Result<Option<Plasticity>> {
    let Some(p) = t.opt_table("plasticity")? else { return Ok(None) };
    let mut all_keys: Vec<&str> = PLASTICITY_RULES.iter().flat_map(|(_, keys)| keys.iter().copied()).collect();
    all_keys.sort_unstable();
    all_keys.dedup();
    p.audit(&all_keys)?;
    let (rule, rule_span) = p.req_str("rule")?;
    let Some(&(_, keys)) = PLASTICITY_RULES.iter().find(|(name, _)| *name == rule) else {
        let names: Vec<&str> = PLASTICITY_RULES.iter().map(|(name, _)| *name).collect();
        let message = format!("unknown plasticity rule `{rule}` (expected one of: {})", names.join(", "));
        return Err(p.error_at("rule", rule_span, message));
    };
    p.audit(keys)?;
    if rule == "tsodyks_markram" {
        let params = TsodyksParams::read(&p)?;
        p.finish()?;
        return Ok(Some(Plasticity::TsodyksMarkram(params)));
    }
    if matches!(synapse, SynapseModel::AlphaCurrent { .. } | SynapseModel::AlphaCond { .. }) {
        return Err(p.error_at("rule", rule_span, format!("{rule} works on delta, exp_current and exp_cond synapses, not on alpha synapses")));
    }
    if rule == "astrocyte_stdp" && run.dt != 1.0 {
        let message = format!("astrocyte_stdp runs on NALSM's 1 ms step: set `dt = \"1 ms\"` in [run] (it is {} ms)", run.dt);
        return Err(p.error_at("rule", rule_span, message));
    }
    let resolve = |key: &str, list: Vec<SpannedName>| -> Result<()> {
        match list.into_iter().find(|(name, _)| !names.contains_key(name)) {
            Some((name, span)) => Err(p.error_at(key, span, format!("`{name}` is not a population or spike source"))),
            None => Ok(()),
        }
    };
    let dim = synapse.weight_dim();
    // The rule, and the bounds its initial weights must lie within (None: unbounded).
    let (plasticity, bounds) = match rule {
        "triplet" => {
            let params = TripletParams::read(&p, dim)?;
            let w_max = params.w_max;
            if w_max.is_none() && synapse.is_conductance() {
                let message = "triplet STDP on a conductance synapse needs `w_max` (without it weights are unbounded and could turn negative)";
                return Err(p.field_error("w_max", message));
            }
            (Plasticity::Triplet(params), w_max.map(|w| [0.0, w]))
        }
        "stdp" => {
            let params = StdpParams::read(&p, dim)?;
            let w_max = params.w_max;
            (Plasticity::Stdp(params), Some([0.0, w_max]))
        }
        "three_factor" => {
            let spec = ThreeFactorSpec::read(&p, dim)?;
            resolve("modulator", p.opt_str("modulator")?.map(|(n, span)| (n.to_string(), span)).into_iter().collect())?;
            let bounds = spec.params.bounds.expect("read with bounds");
            (Plasticity::ThreeFactor(spec), Some(bounds))
        }
        "astrocyte_stdp" => {
            let spec = AstroStdpSpec::read(&p, dim)?;
            for key in ["liquid", "input"] {
                resolve(key, p.opt_str_list(key)?.unwrap_or_default())?;
            }
            let bounds = spec.bounds();
            (Plasticity::AstrocyteStdp(spec), Some(bounds))
        }
        "synaptic_scaling" => {
            let params = HomeostasisParams::read_scaling(&p, dim)?;
            let bounds = params.w_max.map(|w_max| [0.0, w_max]);
            (Plasticity::SynapticScaling(params), bounds)
        }
        "inhibitory_stdp" => {
            let params = InhibitoryStdpParams::read(&p, dim)?;
            check_inhibitory(t, &p, synapse, weight, post_neuron)?;
            // Conductances are stored as g, current and voltage weights as -g.
            let bounds = if synapse.is_conductance() { [0.0, params.w_max] } else { [-params.w_max, 0.0] };
            (Plasticity::InhibitoryStdp(params), Some(bounds))
        }
        _ => unreachable!("`{rule}` is in PLASTICITY_RULES but has no reader"),
    };
    if let Some([w_min, _]) = bounds
        && w_min < 0.0
        && synapse.is_conductance()
    {
        let message = "a conductance weight must not be negative: `w_min` must be >= 0 on exp_cond synapses (use a reversal potential for inhibition)";
        return Err(p.field_error("w_min", message));
    }
    p.finish()?;
    let (low, high) = weight.range();
    if rule == "synaptic_scaling" && low < 0.0 {
        let span = t.get("weight").map(|v| v.span()).unwrap_or(0..0);
        let message = "synaptic scaling multiplies a neuron's incoming weights up while it fires below the target rate, which on negative (inhibitory) weights would drive the rate further away: its weights must not be negative";
        return Err(t.error_at("weight", span, message));
    }
    if let Some([w_min, w_max]) = bounds
        && (low < w_min || high > w_max)
    {
        let span = t.get("weight").map(|v| v.span()).unwrap_or(0..0);
        let range = if w_min == 0.0 { format!("[0, w_max = {w_max}]") } else { format!("[w_min, w_max] = [{w_min}, {w_max}]") };
        return Err(t.error_at("weight", span, format!("plastic weights must start within {range}")));
    }
    Ok(Some(plasticity))
}

/// Refuses inhibitory STDP on a projection that is not inhibitory: a conductance synapse
/// must reverse below the postsynaptic threshold (`v_th` of lif and adaptive_lif, `v_t` of
/// adex; models without such a parameter are refused), current and voltage weights must not
/// be positive.
fn check_inhibitory(t: &TableReader, p: &TableReader, synapse: &SynapseModel, weight: &WeightSpec, post_neuron: &NeuronParams) -> Result<()> {
    if let SynapseModel::ExpCond { e_rev, .. } = *synapse {
        let threshold = match post_neuron {
            NeuronParams::Lif(n) => n.v_th,
            NeuronParams::AdaptiveLif(n) => n.v_th,
            NeuronParams::Adex(n) => n.v_t,
            _ => {
                let message = "inhibitory_stdp on conductance synapses needs a postsynaptic model with a threshold parameter (lif, adaptive_lif, adex) to check that the synapse inhibits; use exp_current with negative weights";
                return Err(p.field_error("rule", message));
            }
        };
        if e_rev >= threshold {
            let message = format!(
                "inhibitory_stdp needs an inhibitory synapse: its reversal potential {e_rev} mV is not below the postsynaptic threshold {threshold} mV"
            );
            return Err(t.field_error("synapse", message));
        }
    } else if weight.range().1 > 0.0 {
        let span = t.get("weight").map(|v| v.span()).unwrap_or(0..0);
        let message = "inhibitory_stdp needs an inhibitory synapse: on delta and exp_current synapses its weights must not be positive (the rule bounds their magnitude to [0, w_max])";
        return Err(t.error_at("weight", span, message));
    }
    Ok(())
}

/// Adds projection `proj` to the channels of its postsynaptic population, as `Network::build`
/// does, rejecting a synapse name shared by different synapse models.
fn join_channel(t: &TableReader, list: &mut Vec<ChannelSlot>, proj: &ProjectionSpec, name_span: Option<Range<usize>>) -> Result<()> {
    let found = list
        .iter()
        .position(|c| c.model == proj.synapse && (proj.channel.is_none() || c.name.is_none() || c.name == proj.channel));
    match found {
        Some(c) => {
            if list[c].name.is_none() {
                list[c].name = proj.channel.clone();
            }
        }
        None => {
            if let Some(name) = &proj.channel
                && list.iter().any(|c| c.name.as_deref() == Some(name))
            {
                return Err(t.src.error(
                    name_span.unwrap_or(0..0),
                    &t.field_path("synapse.name"),
                    format!(
                        "the synapse name `{name}` on `{}` is already used by a projection with a different synapse model or parameters",
                        proj.post
                    ),
                ));
            }
            list.push(ChannelSlot { model: proj.synapse, name: proj.channel.clone() });
        }
    }
    Ok(())
}

fn src_error(root: &TableReader, span: Range<usize>, field: &str, message: impl Into<String>) -> EngramError {
    root.src.error(span, field, message)
}

/// The synapse model and the channel name (with its span), if named.
fn read_synapse(t: &TableReader) -> Result<(SynapseModel, Option<SpannedName>)> {
    let Some(v) = t.get("synapse") else { return Err(t.missing("synapse")) };
    if v.get_ref().as_str() == Some("delta") {
        return Ok((SynapseModel::Delta, None));
    }
    let Some(table) = v.get_ref().as_table() else {
        return Err(t.error_at("synapse", v.span(), "expected \"delta\" or a table such as { model = \"exp_cond\", tau = \"5 ms\", e_rev = \"0 mV\" }"));
    };
    let s = TableReader::new(t.src, table, v.span(), t.field_path("synapse"));
    s.audit(SYNAPSE_KEYS)?;
    let (model, model_span) = s.req_str("model")?;
    let channel = s.opt_str("name")?.map(|(n, span)| (n.to_string(), span));
    let tau = || -> Result<f64> {
        let tau = s.req_quantity("tau", Dim::TIME)?;
        if tau <= 0.0 {
            let span = s.get("tau").map(|v| v.span()).unwrap_or(0..0);
            return Err(s.error_at("tau", span, format!("`tau` must be positive, got {tau} ms")));
        }
        Ok(tau)
    };
    let model = match model {
        "delta" => SynapseModel::Delta,
        "exp_current" => SynapseModel::ExpCurrent { tau: tau()? },
        "alpha_current" => SynapseModel::AlphaCurrent { tau: tau()? },
        "exp_cond" => SynapseModel::ExpCond { tau: tau()?, e_rev: s.req_quantity("e_rev", Dim::VOLTAGE)? },
        "alpha_cond" => SynapseModel::AlphaCond { tau: tau()?, e_rev: s.req_quantity("e_rev", Dim::VOLTAGE)? },
        other => {
            return Err(s.error_at(
                "model",
                model_span,
                format!("unknown synapse model `{other}` (expected one of: {})", synapses::MODEL_NAMES.join(", ")),
            ));
        }
    };
    s.finish()?;
    Ok((model, channel))
}

/// `autapses` (default true) only matters when `pre` and `post` are the same population;
/// between different populations neuron i of one is no autapse of neuron i of the other.
fn read_connect(t: &TableReader, n_pre: usize, n_post: usize, same_population: bool) -> Result<ConnectRule> {
    let Some(c) = t.opt_table("connect")? else { return Err(t.missing("connect")) };
    c.audit(CONNECT_KEYS)?;
    let (rule, rule_span) = c.req_str("rule")?;
    let autapses = || c.opt_bool("autapses").map(|a| a.unwrap_or(true) || !same_population);
    let connect = match rule {
        "all_to_all" => ConnectRule::AllToAll { autapses: autapses()? },
        "fixed_probability" => {
            let v = c.get("p").ok_or_else(|| c.missing("p"))?;
            let p = c.quantity_value("p", v, Dim::DIMENSIONLESS)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(c.error_at("p", v.span(), format!("probability {p} is outside [0, 1]")));
            }
            ConnectRule::FixedProbability { p, autapses: autapses()? }
        }
        "fixed_in_degree" => {
            let k = c.req_uint("k")? as usize;
            let span = c.get("k").map(|v| v.span()).unwrap_or(0..0);
            if k > n_pre {
                return Err(c.error_at("k", span, format!("in-degree {k} exceeds the {n_pre} presynaptic neurons")));
            }
            let autapses = autapses()?;
            if !autapses && n_pre < 2 && k > 0 {
                return Err(c.error_at("k", span, "without autapses a population of one neuron has no presynaptic partner"));
            }
            ConnectRule::FixedInDegree { k, autapses }
        }
        "one_to_one" => {
            if n_pre != n_post {
                return Err(c.error_at("rule", rule_span, format!("one_to_one needs equal sizes, got {n_pre} and {n_post}")));
            }
            ConnectRule::OneToOne
        }
        "explicit" => {
            let pre = c.opt_uint_list("pre")?.ok_or_else(|| c.missing("pre"))?;
            let post = c.opt_uint_list("post")?.ok_or_else(|| c.missing("post"))?;
            if pre.len() != post.len() {
                let span = c.get("post").map(|v| v.span()).unwrap_or(0..0);
                return Err(c.error_at("post", span, format!("`pre` has {} entries but `post` has {}", pre.len(), post.len())));
            }
            check_indices(&c, "pre", &pre, n_pre)?;
            check_indices(&c, "post", &post, n_post)?;
            ConnectRule::Explicit {
                pre: pre.into_iter().map(|i| i as u32).collect(),
                post: post.into_iter().map(|i| i as u32).collect(),
            }
        }
        other => {
            return Err(c.error_at(
                "rule",
                rule_span,
                format!("unknown connectivity rule `{other}` (expected all_to_all, fixed_probability, fixed_in_degree, one_to_one or explicit)"),
            ));
        }
    };
    c.finish()?;
    Ok(connect)
}

fn read_current(t: &TableReader, n_target: usize) -> Result<CurrentSpec> {
    let (target, _) = t.req_str("target")?;
    let neurons = t.opt_uint_list("neurons")?;
    if let Some(n) = &neurons {
        check_indices(t, "neurons", n, n_target)?;
    }
    let amplitude = t.req_quantity("amplitude", Dim::CURRENT)?;
    let start = t.quantity_or("start", Dim::TIME, 0.0)?;
    let stop = t.quantity_or("stop", Dim::TIME, f64::INFINITY)?;
    if start < 0.0 || stop < start {
        return Err(t.field_error(if start < 0.0 { "start" } else { "stop" }, format!("need 0 <= start <= stop, got start {start} ms, stop {stop} ms")));
    }
    Ok(CurrentSpec {
        target: target.to_string(),
        neurons: neurons.map(|v| v.into_iter().map(|i| i as u32).collect()),
        amplitude,
        start,
        stop,
    })
}
