// The kernrnn LSTM written with TensorFlow.js: the peer that www/tools/bench-web.mjs times
// kernrnn's WebAssembly and WebGPU samplers against. Only for the benchmark (not in dist/).
//
// A browser ES module with no imports: pass it the `tf` namespace (the TF.js UMD bundles,
// loaded as classic scripts, define it as a global). It reads a kernrnn weights file
// (safetensors: an 8-byte little-endian header length, a JSON header, the raw f32 data) itself.
//
// The network (gate order i, f, o, g along the 4H axis, as kernrnn's):
//   gates = x @ w_ih + h @ w_hh + bias     (layer 0's x is one-hot: a row of w_ih)
//   c' = f*c + i*tanh(g);  h' = o*tanh(c');  logits = h_top @ head.weight + head.bias
// A model that reads the measure clock (tensor `lstm.0.w_clock`) adds to layer 0's gates the row
// of the clock's class; here always its last, "unknown", as kernrnn's logitsFor feeds it (the
// peer samples raw text without following the clock).
// Sampling is raw (no **kern grammar): softmax(logits / temperature), one character at a time,
// one tf.tidy and one dataSync per character (what a char-rnn sampler in TF.js has to do: the
// next input depends on the drawn character).

/** Parses a safetensors file: { tensors: { name: { shape, data: Float32Array } }, metadata }. */
export function parseSafetensors(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 8) throw new Error("not a safetensors file (shorter than 8 bytes)");
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (!(n > 0 && 8 + n <= u8.length)) throw new Error(`not a safetensors file (header length ${n})`);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + n)));
  const start = 8 + n;
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (t.dtype !== "F32") throw new Error(`${name}: dtype ${t.dtype}, only F32 is read`);
    const [a, b] = t.data_offsets;
    const count = t.shape.reduce((x, y) => x * y, 1);
    if (b - a !== count * 4) throw new Error(`${name}: ${b - a} bytes for shape [${t.shape}]`);
    // A copy: the data need not be 4-byte aligned in the file (little-endian hosts only).
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(u8.subarray(start + a, start + b));
    tensors[name] = { shape: t.shape, data };
  }
  return { tensors, metadata: header.__metadata__ || {} };
}

/** A kernrnn model from its weights file: { vocab: [chars], index: Map, layers, hidden, tensors }. */
export function readModel(bytes) {
  const { tensors, metadata } = parseSafetensors(bytes);
  const vocab = Array.from(JSON.parse(metadata.vocab));
  const hyper = metadata.hyper ? JSON.parse(metadata.hyper) : {};
  let layers = 0;
  while (tensors[`lstm.${layers}.w_hh`]) layers++;
  const hidden = tensors["lstm.0.w_hh"].shape[0];
  if (hyper.layers != null && hyper.layers !== layers) throw new Error(`hyper says ${hyper.layers} layers, the file has ${layers}`);
  if (tensors["head.weight"].shape[1] !== vocab.length) throw new Error("head.weight does not match the vocabulary");
  return { vocab, index: new Map(vocab.map((c, i) => [c, i])), layers, hidden, tensors };
}

/** A small seeded generator (mulberry32): a float in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The LSTM on the current TF.js backend. Call dispose() when done (frees the weights). */
export class TfLstm {
  constructor(tf, model) {
    this.tf = tf;
    this.model = model;
    const H = model.hidden;
    const T = model.tensors;
    this.H = H;
    this.weights = tf.tidy(() => {
      const w = [];
      for (let l = 0; l < model.layers; l++) {
        const ih = T[`lstm.${l}.w_ih`];
        const hh = T[`lstm.${l}.w_hh`];
        const bias = tf.tensor2d(T[`lstm.${l}.bias`].data, [1, 4 * H]);
        if (l === 0) {
          // One-hot input: x @ w_ih is row `token` of w_ih; fold the bias (and the clock's
          // "unknown" row) into those rows.
          const fixed = tf.add(bias, tf.tensor2d(unknownClockRow(model), [1, 4 * H]));
          w.push({ rows: tf.add(tf.tensor2d(ih.data, ih.shape), fixed), whh: tf.tensor2d(hh.data, hh.shape) });
        } else {
          // [x, h] @ [w_ih; w_hh]: one matMul per layer.
          const both = tf.concat([tf.tensor2d(ih.data, ih.shape), tf.tensor2d(hh.data, hh.shape)], 0);
          w.push({ w: both, bias });
        }
      }
      const head = T["head.weight"];
      return {
        layers: w,
        headW: tf.tensor2d(head.data, head.shape),
        headB: tf.tensor2d(T["head.bias"].data, [1, head.shape[1]]),
      };
    });
    for (const t of this.allWeights()) tf.keep(t);
    this.state = null;
    this.reset();
  }

  allWeights() {
    const w = this.weights;
    return [...w.layers.flatMap((l) => Object.values(l)), w.headW, w.headB];
  }

  /** Back to the zero state. */
  reset() {
    const tf = this.tf;
    if (this.state) for (const t of [...this.state.h, ...this.state.c]) t.dispose();
    const z = () => tf.zeros([1, this.H]);
    this.state = { h: this.weights.layers.map(z), c: this.weights.layers.map(z) };
  }

  /**
   * Feeds token `token`; returns the logits (temperature null) or the probabilities
   * softmax(logits / temperature) as a tensor [1, V] the caller disposes.
   */
  step(token, temperature = null) {
    const tf = this.tf;
    const H = this.H;
    const { layers, headW, headB } = this.weights;
    const old = this.state;
    const result = tf.tidy(() => {
      const h = [];
      const c = [];
      let x = null;
      for (let l = 0; l < layers.length; l++) {
        const w = layers[l];
        const gates = l === 0
          ? tf.add(tf.slice(w.rows, [token, 0], [1, 4 * H]), tf.matMul(old.h[0], w.whh))
          : tf.add(tf.matMul(tf.concat([x, old.h[l]], 1), w.w), w.bias);
        const ifo = tf.sigmoid(tf.slice(gates, [0, 0], [1, 3 * H]));
        const g = tf.tanh(tf.slice(gates, [0, 3 * H], [1, H]));
        const i = tf.slice(ifo, [0, 0], [1, H]);
        const f = tf.slice(ifo, [0, H], [1, H]);
        const o = tf.slice(ifo, [0, 2 * H], [1, H]);
        const cNew = tf.add(tf.mul(f, old.c[l]), tf.mul(i, g));
        const hNew = tf.mul(o, tf.tanh(cNew));
        h.push(hNew);
        c.push(cNew);
        x = hNew;
      }
      const logits = tf.add(tf.matMul(x, headW), headB);
      const out = temperature == null ? logits : tf.softmax(tf.div(logits, tf.scalar(temperature)));
      return { h, c, out };
    });
    for (const t of [...old.h, ...old.c]) t.dispose();
    this.state = { h: result.h, c: result.c };
    return result.out;
  }

  /** The logits after each character of `text`, from the zero state (as Composer.logitsFor). */
  logitsFor(text) {
    this.reset();
    const out = [];
    for (const ch of text) {
      const token = this.token(ch);
      const t = this.step(token);
      out.push(Float32Array.from(t.dataSync()));
      t.dispose();
    }
    this.reset();
    return out;
  }

  /** logitsFor with `await data()` reads (for a backend whose dataSync does not work). */
  async logitsForAsync(text) {
    this.reset();
    const out = [];
    for (const ch of text) {
      const t = this.step(this.token(ch));
      out.push(Float32Array.from(await t.data()));
      t.dispose();
    }
    this.reset();
    return out;
  }

  token(ch) {
    const t = this.model.index.get(ch);
    if (t === undefined) throw new Error(`character ${JSON.stringify(ch)} is not in the model's vocabulary`);
    return t;
  }

  /**
   * Samples `length` characters after `prime` (raw, softmax with `temperature`, seeded),
   * one dataSync per character. `maxMillis` stops early (a slow backend); `read: "async"` uses
   * `await data()` instead of dataSync. Resolves to { text, chars, millis, stopped }.
   */
  async sample({ length = 2000, temperature = 0.8, seed = 1, prime = "@\n", maxMillis = Infinity, read = "sync" } = {}) {
    this.reset();
    const draw = rng(seed);
    const V = this.model.vocab.length;
    const t0 = performance.now();
    let probs = null;
    for (const ch of prime) {
      probs?.dispose();
      probs = this.step(this.token(ch), temperature);
    }
    let text = "";
    let stopped = false;
    for (let n = 0; n < length; n++) {
      const p = read === "sync" ? probs.dataSync() : await probs.data();
      probs.dispose();
      let r = draw();
      let token = V - 1;
      for (let k = 0; k < V; k++) {
        r -= p[k];
        if (r < 0) {
          token = k;
          break;
        }
      }
      text += this.model.vocab[token];
      probs = null;
      if (n + 1 === length) break;
      if (performance.now() - t0 > maxMillis) {
        stopped = true;
        break;
      }
      probs = this.step(token, temperature);
    }
    probs?.dispose();
    const millis = performance.now() - t0;
    this.reset();
    return { text, chars: text.length, millis, stopped };
  }

  dispose() {
    for (const t of [...this.state.h, ...this.state.c, ...this.allWeights()]) t.dispose();
  }
}

/** Layer 0's row for the measure clock's "unknown" class (its last), zeros without the clock. */
function unknownClockRow(model) {
  const clock = model.tensors["lstm.0.w_clock"];
  const width = 4 * model.hidden;
  if (!clock) return new Float32Array(width);
  const row = clock.shape[0] - 1;
  return clock.data.slice(row * width, (row + 1) * width);
}

/** The same network in plain JavaScript (float64): the logits after each character of `text`. */
export function referenceLogits(model, text) {
  const { tensors: T, hidden: H, layers: L, vocab } = model;
  const V = vocab.length;
  const sig = (v) => 1 / (1 + Math.exp(-v));
  const h = Array.from({ length: L }, () => new Float64Array(H));
  const c = Array.from({ length: L }, () => new Float64Array(H));
  const out = [];
  const clock = unknownClockRow(model);
  for (const ch of text) {
    const token = model.index.get(ch);
    if (token === undefined) throw new Error(`character ${JSON.stringify(ch)} is not in the model's vocabulary`);
    let x = null;
    for (let l = 0; l < L; l++) {
      const ih = T[`lstm.${l}.w_ih`].data;
      const hh = T[`lstm.${l}.w_hh`].data;
      const b = T[`lstm.${l}.bias`].data;
      const gates = Float64Array.from(b);
      if (l === 0) for (let j = 0; j < 4 * H; j++) gates[j] += ih[token * 4 * H + j] + clock[j];
      else for (let k = 0; k < H; k++) for (let j = 0; j < 4 * H; j++) gates[j] += x[k] * ih[k * 4 * H + j];
      for (let k = 0; k < H; k++) for (let j = 0; j < 4 * H; j++) gates[j] += h[l][k] * hh[k * 4 * H + j];
      for (let j = 0; j < H; j++) {
        const i = sig(gates[j]);
        const f = sig(gates[H + j]);
        const o = sig(gates[2 * H + j]);
        const g = Math.tanh(gates[3 * H + j]);
        c[l][j] = f * c[l][j] + i * g;
        h[l][j] = o * Math.tanh(c[l][j]);
      }
      x = h[l];
    }
    const w = T["head.weight"].data;
    const logits = Float64Array.from(T["head.bias"].data);
    for (let k = 0; k < H; k++) for (let v = 0; v < V; v++) logits[v] += x[k] * w[k * V + v];
    out.push(Float32Array.from(logits));
  }
  return out;
}

/** The largest absolute difference between two lists of logits (NaN if the shapes differ). */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) return NaN;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) return NaN;
    for (let j = 0; j < a[i].length; j++) {
      const d = Math.abs(a[i][j] - b[i][j]);
      if (!(d <= m)) m = d; // NaN wins
    }
  }
  return m;
}
