//! Pixel conversion: band-sequential planes of any numeric sample type ->
//! pixel-interleaved 8/16-bit (or same-type) samples, with an optional
//! per-band linear stretch. Complex SAR input (SICD I/Q plane pairs) can be
//! turned into its amplitude sqrt(I² + Q²) on the way (`complex: 'amplitude'`).
//!
//! Mapping (documented in src/pixels/native.ts, identical on every path):
//!   out = round_half_up(clamp((v - min) * outMax / (max - min), 0, outMax))
//! in f64, as the same JS expression evaluates it; without a range it is a
//! plain round-and-clamp. NaN maps to 0.
//!
//! Speed: sources of <= 16 bits go through a per-band lookup table (at most
//! 65536 entries, built only over [min, max]; the rest is a fill), which keeps
//! the hot loop at one load per sample and is exact by construction. Wider
//! sources use the f64 formula per sample. Each loop is monomorphised per
//! band count so the interleave has no per-pixel bounds checks.
//!
//! Amplitude: v = sqrt(I*I + Q*Q) in f64 (as `Math.sqrt(i * i + q * q)` in JS;
//! not hypot, whose rounding differs), then the same mapping as above.

use crate::napi::{self, napi_callback_info, napi_env, napi_value, Error, Result};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DataType {
    Byte,
    UInt16,
    Int16,
    UInt32,
    Int32,
    Float32,
    Float64,
}

impl DataType {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "Byte" => Self::Byte,
            "UInt16" => Self::UInt16,
            "Int16" => Self::Int16,
            "UInt32" => Self::UInt32,
            "Int32" => Self::Int32,
            "Float32" => Self::Float32,
            "Float64" => Self::Float64,
            "CInt16" | "CInt32" | "CFloat32" | "CFloat64" => {
                return Err(format!("'{s}' (complex) is not supported yet; convert complex data to magnitude first"))
            }
            _ => return Err(format!("'{s}' is not one of Byte, UInt16, Int16, UInt32, Int32, Float32, Float64")),
        })
    }

    pub fn bytes(self) -> usize {
        match self {
            Self::Byte => 1,
            Self::UInt16 | Self::Int16 => 2,
            Self::UInt32 | Self::Int32 | Self::Float32 => 4,
            Self::Float64 => 8,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutputType {
    Byte,
    UInt16,
    Same,
}

pub struct Spec {
    pub width: usize,
    pub height: usize,
    pub band_count: usize,
    pub data_type: DataType,
    pub bands: Vec<usize>,
    pub output_type: OutputType,
    /// One (min, max) per output band, min <= max, both finite.
    pub ranges: Option<Vec<(f64, f64)>>,
    /// Planes 2k and 2k+1 are the I and Q of complex band k; `bands` name
    /// complex bands and each output sample is the amplitude.
    pub complex: bool,
}

impl Spec {
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }

    pub fn out_sample_bytes(&self) -> usize {
        match self.output_type {
            OutputType::Byte => 1,
            OutputType::UInt16 => 2,
            OutputType::Same => self.data_type.bytes(),
        }
    }

    /// Bytes the source must hold: all `band_count` planes.
    pub fn source_bytes(&self) -> Option<usize> {
        self.pixels().checked_mul(self.data_type.bytes())?.checked_mul(self.band_count)
    }

    pub fn output_bytes(&self) -> Option<usize> {
        self.pixels().checked_mul(self.out_sample_bytes())?.checked_mul(self.bands.len())
    }
}

// ------------------------------------------------------------------ kernels

/// Maps the k-th output band's raw source sample to a raw output sample.
trait BandMap<S, O> {
    /// Whether `map_fast` is cheaper than `map` (then `interleave` uses it).
    const HAS_FAST: bool = false;

    /// The exact mapping.
    fn map(&self, band: usize, s: S) -> O;

    /// A cheaper mapping that sets `*unsure` when its result may differ from `map`.
    #[inline(always)]
    fn map_fast(&self, band: usize, s: S, unsure: &mut bool) -> O {
        let _ = unsure;
        self.map(band, s)
    }
}

/// Pixels per chunk on the fast path: small enough that redoing a chunk is
/// cheap and its source stays in L1, large enough to amortise the check.
const CHUNK: usize = 512;

/// The interleave loop, monomorphised per band count `N`. `planes` are
/// pre-sliced to the output length so the compiler drops the bounds checks.
#[inline(always)]
fn interleave<S: Copy, O: Copy, M: BandMap<S, O>, const N: usize>(planes: [&[S]; N], out: &mut [[O; N]], m: &M) {
    let n = out.len();
    let planes = planes.map(|p| &p[..n]);
    if !M::HAS_FAST {
        for (i, o) in out.iter_mut().enumerate() {
            *o = std::array::from_fn(|k| m.map(k, planes[k][i]));
        }
        return;
    }
    for (c, chunk) in out.chunks_mut(CHUNK).enumerate() {
        let start = c * CHUNK;
        let src = planes.map(|p| &p[start..start + chunk.len()]);
        let mut unsure = false;
        for (i, o) in chunk.iter_mut().enumerate() {
            *o = std::array::from_fn(|k| m.map_fast(k, src[k][i], &mut unsure));
        }
        if unsure {
            // Rare (a sample landed within 1e-9 of a .5 tie): redo exactly.
            for (i, o) in chunk.iter_mut().enumerate() {
                *o = std::array::from_fn(|k| m.map(k, src[k][i]));
            }
        }
    }
}

/// Dispatches on the number of output bands (1..=4). `planes` hold whole
/// source samples ([u8; SB]); `out` whole output samples ([u8; OB]).
fn run_bands<S: Copy, O: Copy, M: BandMap<S, O>>(planes: &[&[S]], out: &mut [O], m: &M) {
    match planes.len() {
        1 => interleave::<S, O, M, 1>([planes[0]], out.as_chunks_mut().0, m),
        2 => interleave::<S, O, M, 2>([planes[0], planes[1]], out.as_chunks_mut().0, m),
        3 => interleave::<S, O, M, 3>([planes[0], planes[1], planes[2]], out.as_chunks_mut().0, m),
        4 => interleave::<S, O, M, 4>([planes[0], planes[1], planes[2], planes[3]], out.as_chunks_mut().0, m),
        n => unreachable!("validated band count, got {n}"),
    }
}

struct Identity;
impl<S> BandMap<S, S> for Identity {
    #[inline(always)]
    fn map(&self, _: usize, s: S) -> S {
        s
    }
}

/// Table lookup for 8/16-bit sources. `SIGNED` flips the sign bit so Int16
/// indexes the table in value order (offset binary).
struct Lut<'a, O, const L: usize, const SIGNED: bool> {
    tables: [&'a [O; L]; 4],
}
impl<O: Copy, const SIGNED: bool> BandMap<[u8; 1], O> for Lut<'_, O, 256, SIGNED> {
    #[inline(always)]
    fn map(&self, k: usize, s: [u8; 1]) -> O {
        self.tables[k][s[0] as usize]
    }
}
impl<O: Copy, const SIGNED: bool> BandMap<[u8; 2], O> for Lut<'_, O, 65536, SIGNED> {
    #[inline(always)]
    fn map(&self, k: usize, s: [u8; 2]) -> O {
        let flip = if SIGNED { 0x8000 } else { 0 };
        self.tables[k][(u16::from_ne_bytes(s) ^ flip) as usize]
    }
}

/// Per-sample f64 arithmetic for 32/64-bit sources.
trait Decode {
    type Raw: Copy;
    fn value(raw: Self::Raw) -> f64;
}
struct U8;
struct U16;
struct I16;
struct U32;
struct I32;
struct F32;
struct F64;
impl Decode for U8 {
    type Raw = [u8; 1];
    #[inline(always)]
    fn value(r: [u8; 1]) -> f64 {
        r[0] as f64
    }
}
impl Decode for U16 {
    type Raw = [u8; 2];
    #[inline(always)]
    fn value(r: [u8; 2]) -> f64 {
        u16::from_ne_bytes(r) as f64
    }
}
impl Decode for I16 {
    type Raw = [u8; 2];
    #[inline(always)]
    fn value(r: [u8; 2]) -> f64 {
        i16::from_ne_bytes(r) as f64
    }
}
impl Decode for U32 {
    type Raw = [u8; 4];
    #[inline(always)]
    fn value(r: [u8; 4]) -> f64 {
        u32::from_ne_bytes(r) as f64
    }
}
impl Decode for I32 {
    type Raw = [u8; 4];
    #[inline(always)]
    fn value(r: [u8; 4]) -> f64 {
        i32::from_ne_bytes(r) as f64
    }
}
impl Decode for F32 {
    type Raw = [u8; 4];
    #[inline(always)]
    fn value(r: [u8; 4]) -> f64 {
        f32::from_ne_bytes(r) as f64
    }
}
impl Decode for F64 {
    type Raw = [u8; 8];
    #[inline(always)]
    fn value(r: [u8; 8]) -> f64 {
        f64::from_ne_bytes(r)
    }
}

trait OutSample: Copy + Default {
    const MAX: f64;
    fn from_u32(v: u32) -> Self;
}
impl OutSample for [u8; 1] {
    const MAX: f64 = 255.0;
    #[inline(always)]
    fn from_u32(v: u32) -> Self {
        [v as u8]
    }
}
impl OutSample for [u8; 2] {
    const MAX: f64 = 65535.0;
    #[inline(always)]
    fn from_u32(v: u32) -> Self {
        (v as u16).to_ne_bytes()
    }
}

/// One band's mapping. Without a range it is a plain round-and-clamp.
/// A degenerate range (min == max, e.g. MINMAX of a constant band) is the
/// formula's own IEEE limit: span 0 and scale +inf send v > min to outMax and
/// v <= min to 0 (0/0 and 0*inf are NaN, which maps to 0).
#[derive(Clone, Copy)]
struct Linear {
    ranged: bool,
    min: f64,
    /// outMax / (max - min), precomputed for the fast path.
    scale: f64,
    /// max - min.
    span: f64,
}

/// How close to a .5 tie the fast product must land to be double-checked.
/// Product and quotient differ by a few ulps (< 1e-10 for outputs <= 65535),
/// so anything farther from a tie rounds the same way with both.
const TIE_EPS: f64 = 1e-9;

/// round_half_up(clamp(x, 0, out_max)). Compares (not f64::max/min) map to one
/// maxsd/minsd each; `NaN > 0.0` is false, so NaN becomes 0.
#[inline(always)]
fn round_clamp(x: f64, out_max: f64) -> f64 {
    let x = if x > 0.0 { x } else { 0.0 };
    let x = if x < out_max { x } else { out_max };
    x + 0.5
}

impl Linear {
    /// The one mapping formula every path uses:
    ///   round_half_up(clamp((v - min) * outMax / (max - min), 0, outMax))
    /// evaluated like the same JS expression would be.
    #[inline(always)]
    fn exact(self, v: f64, out_max: f64) -> u32 {
        let x = if self.ranged { (v - self.min) * out_max / self.span } else { v };
        round_clamp(x, out_max) as u32
    }

    /// Multiplies by the precomputed scale instead of dividing. That equals
    /// `exact` except within a hair of a .5 tie (e.g. (0 + 100) * (255 / 200)
    /// = 127.49999999999999 but 25500 / 200 = 127.5), which sets `*unsure`.
    /// Branch-free so the loop stays cheap; callers redo unsure chunks exactly.
    #[inline(always)]
    fn fast(self, v: f64, out_max: f64, unsure: &mut bool) -> u32 {
        let y = round_clamp((v - self.min) * self.scale, out_max);
        // SAFETY: y is within [0.5, out_max + 0.5] (NaN removed by
        // round_clamp), so it fits i32; truncation == floor for y >= 0. This
        // skips the saturation fix-ups of `as`, a large share of this loop.
        let r = unsafe { y.to_int_unchecked::<i32>() };
        let frac = y - r as f64;
        // Non-short-circuit `|` keeps this branch-free.
        #[allow(clippy::manual_range_contains)]
        {
            *unsure |= (frac < TIE_EPS) | (frac > 1.0 - TIE_EPS);
        }
        r as u32
    }
}

struct Arith<D, O> {
    lin: [Linear; 4],
    _types: std::marker::PhantomData<(D, O)>,
}
impl<D: Decode, O: OutSample> BandMap<D::Raw, O> for Arith<D, O> {
    const HAS_FAST: bool = true;

    #[inline(always)]
    fn map(&self, k: usize, s: D::Raw) -> O {
        O::from_u32(self.lin[k].exact(D::value(s), O::MAX))
    }

    #[inline(always)]
    fn map_fast(&self, k: usize, s: D::Raw, unsure: &mut bool) -> O {
        O::from_u32(self.lin[k].fast(D::value(s), O::MAX, unsure))
    }
}

/// Lookup table of `len` entries indexed by `value - offset`, built with the
/// shared formula. Only [ceil(min), floor(max)] is computed; below is 0 and
/// above is outMax, which is exactly what the formula yields there.
fn build_lut<O: OutSample>(len: usize, offset: f64, lin: Linear, range: Option<(f64, f64)>) -> Vec<O> {
    let mut t = vec![O::default(); len];
    let (lo, hi) = match range {
        Some((min, max)) => {
            let idx = |v: f64| (v - offset).clamp(0.0, len as f64) as usize;
            (idx(min.ceil()), idx(max.floor() + 1.0))
        }
        None => (0, len),
    };
    let top = O::from_u32(O::MAX as u32);
    for (i, e) in t.iter_mut().enumerate().take(hi).skip(lo) {
        *e = O::from_u32(lin.exact(i as f64 + offset, O::MAX));
    }
    t[hi..].fill(top);
    t
}

fn linear(spec: &Spec, k: usize, out_max: f64) -> Linear {
    match &spec.ranges {
        Some(r) => {
            let (min, max) = r[k];
            Linear { ranged: true, min, scale: out_max / (max - min), span: max - min }
        }
        None => Linear { ranged: false, min: 0.0, scale: 1.0, span: 1.0 },
    }
}

fn lut_run<S: Copy, O: OutSample, const L: usize, const SIGNED: bool>(spec: &Spec, planes: &[&[S]], out: &mut [O])
where
    for<'a> Lut<'a, O, L, SIGNED>: BandMap<S, O>,
{
    let offset = if SIGNED { -((L / 2) as f64) } else { 0.0 };
    let owned: Vec<Vec<O>> = (0..planes.len())
        .map(|k| build_lut::<O>(L, offset, linear(spec, k, O::MAX), spec.ranges.as_ref().map(|r| r[k])))
        .collect();
    let tables: Vec<&[O; L]> = owned.iter().map(|t| t.as_slice().try_into().expect("table length is L")).collect();
    let lut = Lut::<O, L, SIGNED> { tables: std::array::from_fn(|k| tables[k.min(tables.len() - 1)]) };
    run_bands(planes, out, &lut);
}

fn arith_run<D: Decode, O: OutSample>(spec: &Spec, planes: &[&[D::Raw]], out: &mut [O]) {
    let m = Arith::<D, O> { lin: std::array::from_fn(|k| linear(spec, k.min(planes.len() - 1), O::MAX)), _types: std::marker::PhantomData };
    run_bands(planes, out, &m);
}

fn planes_of<'a, const B: usize>(spec: &Spec, src: &'a [u8]) -> Vec<&'a [[u8; B]]> {
    let plane = spec.pixels() * B;
    spec.bands.iter().map(|&b| src[b * plane..(b + 1) * plane].as_chunks::<B>().0).collect()
}

fn copy_run<const B: usize>(spec: &Spec, src: &[u8], out: &mut [u8]) {
    let planes = planes_of::<B>(spec, src);
    if let [one] = planes.as_slice() {
        // Single band: a straight memcpy.
        out.copy_from_slice(one.as_flattened());
    } else {
        run_bands(&planes, out.as_chunks_mut::<B>().0, &Identity);
    }
}

/// The I and Q planes of one complex band.
type IqPair<'a, R> = (&'a [R], &'a [R]);
/// (I, Q) planes of each selected complex band.
type IqPlanes<'a, const B: usize> = Vec<IqPair<'a, [u8; B]>>;

fn iq_planes_of<'a, const B: usize>(spec: &Spec, src: &'a [u8]) -> IqPlanes<'a, B> {
    let plane = spec.pixels() * B;
    let at = |p: usize| src[p * plane..(p + 1) * plane].as_chunks::<B>().0;
    spec.bands.iter().map(|&k| (at(2 * k), at(2 * k + 1))).collect()
}

/// Amplitude of each selected complex band, mapped like any other sample.
/// Output band k is written with stride `bands.len()` (pixel-interleaved);
/// chunks take the fast path and are redone exactly when a sample landed
/// near a rounding tie, as in `interleave`.
fn amplitude_run<D: Decode, O: OutSample>(spec: &Spec, pairs: &[IqPair<'_, D::Raw>], out: &mut [O]) {
    let n = spec.pixels();
    let nb = pairs.len();
    let magnitude = |i: D::Raw, q: D::Raw| {
        let (i, q) = (D::value(i), D::value(q));
        (i * i + q * q).sqrt()
    };
    for (k, &(ip, qp)) in pairs.iter().enumerate() {
        let lin = linear(spec, k, O::MAX);
        let chunks = out.chunks_mut(CHUNK * nb).zip(ip[..n].chunks(CHUNK)).zip(qp[..n].chunks(CHUNK));
        for ((o, ic), qc) in chunks {
            let mut unsure = false;
            for ((o, &i), &q) in o.iter_mut().skip(k).step_by(nb).zip(ic).zip(qc) {
                *o = O::from_u32(lin.fast(magnitude(i, q), O::MAX, &mut unsure));
            }
            if unsure {
                for ((o, &i), &q) in o.iter_mut().skip(k).step_by(nb).zip(ic).zip(qc) {
                    *o = O::from_u32(lin.exact(magnitude(i, q), O::MAX));
                }
            }
        }
    }
}

fn amplitude_to_type<const OB: usize>(spec: &Spec, src: &[u8], out: &mut [[u8; OB]])
where
    [u8; OB]: OutSample,
{
    use DataType as D;
    match spec.data_type {
        D::Byte => amplitude_run::<U8, [u8; OB]>(spec, &iq_planes_of::<1>(spec, src), out),
        D::UInt16 => amplitude_run::<U16, [u8; OB]>(spec, &iq_planes_of::<2>(spec, src), out),
        D::Int16 => amplitude_run::<I16, [u8; OB]>(spec, &iq_planes_of::<2>(spec, src), out),
        D::UInt32 => amplitude_run::<U32, [u8; OB]>(spec, &iq_planes_of::<4>(spec, src), out),
        D::Int32 => amplitude_run::<I32, [u8; OB]>(spec, &iq_planes_of::<4>(spec, src), out),
        D::Float32 => amplitude_run::<F32, [u8; OB]>(spec, &iq_planes_of::<4>(spec, src), out),
        D::Float64 => amplitude_run::<F64, [u8; OB]>(spec, &iq_planes_of::<8>(spec, src), out),
    }
}

/// Converts `src` into `out`. Lengths must already be checked (js_convert
/// does): `src.len() >= source_bytes()`, `out.len() == output_bytes()`.
pub fn run(spec: &Spec, src: &[u8], out: &mut [u8]) {
    use DataType as D;
    if spec.complex {
        match spec.output_type {
            OutputType::Byte => amplitude_to_type::<1>(spec, src, out.as_chunks_mut::<1>().0),
            OutputType::UInt16 => amplitude_to_type::<2>(spec, src, out.as_chunks_mut::<2>().0),
            OutputType::Same => unreachable!("'same' with complex is rejected by validation"),
        }
        return;
    }
    let same_type = matches!(
        (spec.output_type, spec.data_type),
        (OutputType::Same, _) | (OutputType::Byte, D::Byte) | (OutputType::UInt16, D::UInt16)
    );
    if same_type && spec.ranges.is_none() {
        match spec.data_type.bytes() {
            1 => copy_run::<1>(spec, src, out),
            2 => copy_run::<2>(spec, src, out),
            4 => copy_run::<4>(spec, src, out),
            _ => copy_run::<8>(spec, src, out),
        }
        return;
    }
    match spec.output_type {
        OutputType::Byte => to_type::<1>(spec, src, out.as_chunks_mut::<1>().0),
        OutputType::UInt16 => to_type::<2>(spec, src, out.as_chunks_mut::<2>().0),
        OutputType::Same => unreachable!("'same' with ranges is rejected by validation"),
    }
}

fn to_type<const OB: usize>(spec: &Spec, src: &[u8], out: &mut [[u8; OB]])
where
    [u8; OB]: OutSample,
{
    use DataType as D;
    match spec.data_type {
        D::Byte => lut_run::<[u8; 1], [u8; OB], 256, false>(spec, &planes_of::<1>(spec, src), out),
        D::UInt16 => lut_run::<[u8; 2], [u8; OB], 65536, false>(spec, &planes_of::<2>(spec, src), out),
        D::Int16 => lut_run::<[u8; 2], [u8; OB], 65536, true>(spec, &planes_of::<2>(spec, src), out),
        D::UInt32 => arith_run::<U32, [u8; OB]>(spec, &planes_of::<4>(spec, src), out),
        D::Int32 => arith_run::<I32, [u8; OB]>(spec, &planes_of::<4>(spec, src), out),
        D::Float32 => arith_run::<F32, [u8; OB]>(spec, &planes_of::<4>(spec, src), out),
        D::Float64 => arith_run::<F64, [u8; OB]>(spec, &planes_of::<8>(spec, src), out),
    }
}

// ------------------------------------------------------------------ JS entry

fn parse_spec(env: napi_env, opts: napi_value) -> Result<Spec> {
    let opts = napi::object(env, opts, "options")?;
    let get = |name: &std::ffi::CStr| napi::property(env, opts, name);
    let width = napi::int_in(env, get(c"width")?, "options.width", 1, u32::MAX)? as usize;
    let height = napi::int_in(env, get(c"height")?, "options.height", 1, u32::MAX)? as usize;
    let band_count = napi::int_in(env, get(c"bandCount")?, "options.bandCount", 1, 65535)? as usize;

    let dt = napi::short_string(env, get(c"dataType")?, "options.dataType")?;
    let data_type = DataType::parse(&dt).map_err(|why| Error::Value(format!("options.dataType = {why}")))?;

    let complex_value = get(c"complex")?;
    let complex = if napi::is_undefined(env, complex_value)? {
        false
    } else {
        let c = napi::short_string(env, complex_value, "options.complex")?;
        if c != "amplitude" {
            return Err(Error::Value(format!("options.complex = '{c}' is not supported; the only value is 'amplitude'")));
        }
        if !band_count.is_multiple_of(2) {
            return Err(Error::Range(format!(
                "options.bandCount = {band_count} is odd, but complex 'amplitude' reads I/Q plane pairs (planes 2k and 2k+1 form complex band k)"
            )));
        }
        true
    };
    // With complex data `bands` name complex bands (I/Q pairs), not planes.
    let (band_limit, source_desc) = if complex {
        (band_count / 2, format!("{band_count}-plane source of {} complex (I/Q) band(s)", band_count / 2))
    } else {
        (band_count, format!("{band_count}-band source"))
    };

    let band_values = napi::array(env, get(c"bands")?, "options.bands")?;
    if band_values.len == 0 || band_values.len > 4 {
        return Err(Error::Range(format!("options.bands has {} entries; 1 to 4 are supported", band_values.len)));
    }
    let bands = (0..band_values.len)
        .map(|i| {
            let what = format!("options.bands[{i}]");
            let b = napi::number(env, band_values.get(env, i)?, &what)?;
            if b.fract() != 0.0 || b < 0.0 || b >= band_limit as f64 {
                return Err(Error::Range(format!("{what} = {b} is out of range for a {source_desc}")));
            }
            Ok(b as usize)
        })
        .collect::<Result<Vec<_>>>()?;

    let ot = napi::short_string(env, get(c"outputType")?, "options.outputType")?;
    let output_type = match ot.as_str() {
        "Byte" => OutputType::Byte,
        "UInt16" => OutputType::UInt16,
        "same" => OutputType::Same,
        _ => return Err(Error::Value(format!("options.outputType = '{ot}' is not one of Byte, UInt16, same"))),
    };
    if complex && output_type == OutputType::Same {
        return Err(Error::Value(
            "options.outputType 'same' cannot be used with complex 'amplitude' (the amplitude is not a source sample); use 'Byte' or 'UInt16'".into(),
        ));
    }

    let ranges_value = get(c"ranges")?;
    let ranges = if napi::is_undefined(env, ranges_value)? {
        None
    } else {
        if output_type == OutputType::Same {
            return Err(Error::Value("options.ranges cannot be used with outputType 'same' (an exact copy); use 'Byte' or 'UInt16'".into()));
        }
        let items = napi::array(env, ranges_value, "options.ranges")?;
        if items.len as usize != bands.len() {
            return Err(Error::Range(format!(
                "options.ranges has {} entries but options.bands has {}; give one [min, max] per output band",
                items.len,
                bands.len()
            )));
        }
        let mut out = Vec::with_capacity(bands.len());
        for i in 0..items.len {
            let what = format!("options.ranges[{i}]");
            let pair = napi::array(env, items.get(env, i)?, &what)?;
            if pair.len != 2 {
                return Err(Error::Range(format!("{what} must be [min, max] (got {} entries)", pair.len)));
            }
            let min = napi::finite(env, pair.get(env, 0)?, &format!("{what}[0]"))?;
            let max = napi::finite(env, pair.get(env, 1)?, &format!("{what}[1]"))?;
            if min > max {
                return Err(Error::Range(format!("{what} = [{min}, {max}]: min must not exceed max")));
            }
            out.push((min, max));
        }
        Some(out)
    };
    Ok(Spec { width, height, band_count, data_type, bands, output_type, ranges, complex })
}

/// `convert(source, options, output) -> undefined`
/// `output` must hold at least width*height*bands.length*outBytes bytes;
/// the TS layer allocates it when the caller did not pass one.
pub fn js_convert(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [source, options, output] = napi::args::<3>(env, info)?;
    let spec = parse_spec(env, options)?;
    let src = napi::typed_array(env, source, "source")?;
    let dst = napi::typed_array(env, output, "output")?;

    let too_big = || Error::Range(format!("options.width × options.height ({} × {}) is too large", spec.width, spec.height));
    let need_src = spec.source_bytes().ok_or_else(too_big)?;
    let need_out = spec.output_bytes().ok_or_else(too_big)?;
    if src.len() < need_src {
        return Err(Error::Range(format!(
            "source is too small: {} band(s) of {}×{} {:?} need {need_src} bytes, got {}",
            spec.band_count,
            spec.width,
            spec.height,
            spec.data_type,
            src.len()
        )));
    }
    if dst.len() < need_out {
        return Err(Error::Range(format!("output is too small: need {need_out} bytes, got {}", dst.len())));
    }
    if src.overlaps(&dst) {
        return Err(Error::Value("output must not share memory with source".into()));
    }
    // SAFETY: both views are alive for this call and do not overlap (checked).
    let (src, out) = unsafe { (src.as_slice(), &mut dst.as_mut()[..need_out]) };
    run(&spec, src, out);
    napi::undefined(env)
}
