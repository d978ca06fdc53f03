/* "Explain your own photo" (book/explorer.md): EfficientNet-Lite0 in the reader's browser,
 * with its class activation maps (chapter 06) and its saliency (chapter 05), offline.
 *
 * The network is the one `helpers.imagenet.load_model()` builds, exported by
 * scripts/export_tfjs.py into window.EXPLORER_MODEL (layer order and weight layout are
 * documented there); the book's photos come in window.EXPLORER_PHOTOS, the 224x224 pixels
 * `helpers.load_photo(name, size=224)` gives to 12 bits (a PNG data: URL of the upper 8,
 * the lower 4 beside it). Both are <script> files, because a page opened from file:// may
 * not fetch() anything.
 *
 * The forward pass is written here with TensorFlow.js operations, layer by layer:
 * convolution (batch norm folded in), ReLU6, residual sums, global average pooling, Dense.
 *   class activation map (Zhou et al., chapter 06):
 *       upsample(ReLU(M^c)), M^c = sum_k w^c_k A^k, A = head_relu's output (7x7x1280),
 *       upsampled bilinearly (half-pixel centers, as tf.image.resize) and kept >= 0,
 *       exactly as helpers.explain.cam;
 *   saliency (Simonyan et al., chapter 05):
 *       max over the color channels of |d y^c / d x|, y^c the logit, x the network's input,
 *       as helpers.explain.saliency.
 * A new class reuses the last A: one 7x7x1280 by 1280 product.
 *
 * Backends: WebAssembly (SIMD, one thread; its binary comes in wasm-simd.js, and the one
 * gradient kernel it lacks is registered below), else WebGL on a graphics card, else plain
 * JavaScript. One job at a time (a queue); the saliency runs after the map, in stages, and
 * gives way to the reader's next choice.
 *
 * For tests and benchmarks (tests/book_check.py, benchmarks/bench_explorer.py),
 * window.explorer exposes: ready (a promise: the first explanation is shown),
 * showPhoto(name), showFile(file), showClass(index) (promises: top 5 and map shown),
 * idle() (the saliency too), result(), requests(), timings, backend. The top-5 list is in
 * the DOM as <li data-class-index data-probability>.
 */
(function () {
  "use strict";

  const SIZE = 224;               // the network's input, pixels
  const MAX_FILE_BYTES = 50e6;    // a larger file is refused before it is read
  const MAX_PIXELS = 100e6;       // a larger picture is refused after its header is read
  const DECODE_TIMEOUT = 20000;   // ms
  const DEFAULT_PHOTO = "chelsea";
  const COMPOSITE = "chelsea|coffee";
  // matplotlib's "inferno", 256 RGB triplets: never negative values, perceptually uniform.
  const INFERNO_HEX =
    "00000401000501010601010802010a02020c02020e03021004031204031405041706041907051b08051d09061f0a0722" +
    "0b07240c08260d08290e092b10092d110a30120a32140b34150b37160b39180c3c190c3e1b0c411c0c431e0c451f0c48" +
    "210c4a230c4c240c4f260c51280b53290b552b0b572d0b592f0a5b310a5c320a5e340a5f3609613809623909633b0964" +
    "3d09653e0966400a67420a68440a68450a69470b6a490b6a4a0c6b4c0c6b4d0d6c4f0d6c510e6c520e6d540f6d550f6d" +
    "57106e59106e5a116e5c126e5d126e5f136e61136e62146e64156e65156e67166e69166e6a176e6c186e6d186e6f196e" +
    "71196e721a6e741a6e751b6e771c6d781c6d7a1d6d7c1d6d7d1e6d7f1e6c801f6c82206c84206b85216b87216b88226a" +
    "8a226a8c23698d23698f24699025689225689326679526679727669827669a28659b29649d29649f2a63a02a63a22b62" +
    "a32c61a52c60a62d60a82e5fa92e5eab2f5ead305dae305cb0315bb1325ab3325ab43359b63458b73557b93556ba3655" +
    "bc3754bd3853bf3952c03a51c13a50c33b4fc43c4ec63d4dc73e4cc83f4bca404acb4149cc4248ce4347cf4446d04545" +
    "d24644d34743d44842d54a41d74b3fd84c3ed94d3dda4e3cdb503bdd513ade5238df5337e05536e15635e25734e35933" +
    "e45a31e55c30e65d2fe75e2ee8602de9612bea632aeb6429eb6628ec6726ed6925ee6a24ef6c23ef6e21f06f20f1711f" +
    "f1731df2741cf3761bf37819f47918f57b17f57d15f67e14f68013f78212f78410f8850ff8870ef8890cf98b0bf98c0a" +
    "f98e09fa9008fa9207fa9407fb9606fb9706fb9906fb9b06fb9d07fc9f07fca108fca309fca50afca60cfca80dfcaa0f" +
    "fcac11fcae12fcb014fcb216fcb418fbb61afbb81dfbba1ffbbc21fbbe23fac026fac228fac42afac62df9c72ff9c932" +
    "f9cb35f8cd37f8cf3af7d13df7d340f6d543f6d746f5d949f5db4cf4dd4ff4df53f4e156f3e35af3e55df2e661f2e865" +
    "f2ea69f1ec6df1ed71f1ef75f1f179f2f27df2f482f3f586f3f68af4f88ef5f992f6fa96f8fb9af9fc9dfafda1fcffa4";
  const INFERNO = Uint8Array.from(INFERNO_HEX.match(/../g), (byte) => parseInt(byte, 16));

  const root = document.getElementById("explorer");
  if (!root) return;
  const api = {timings: {}, backend: null};
  window.explorer = api;

  // -- small DOM helpers ----------------------------------------------------------------
  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of [].concat(children || [])) {
      node.append(child instanceof Node ? child : document.createTextNode(child));
    }
    return node;
  }

  const pause = () => new Promise((resume) => setTimeout(resume, 0));
  const percent = (p) => (p < 0.001 ? "< 0.1%" : (100 * p).toFixed(p >= 0.995 ? 0 : 1) + "%");

  // -- what the browser must offer ------------------------------------------------------
  function missingFeatures() {
    const missing = [];
    if (typeof window.tf !== "object" || typeof window.tf.conv2d !== "function") {
      missing.push("TensorFlow.js did not start (the browser could not run its script)");
    }
    if (typeof createImageBitmap !== "function") missing.push("createImageBitmap");
    if (typeof DecompressionStream !== "function") missing.push("DecompressionStream");
    if (typeof Float32Array !== "function" || typeof Promise !== "function") {
      missing.push("typed arrays and promises");
    }
    const canvas = document.createElement("canvas");
    if (!canvas.getContext || !canvas.getContext("2d")) missing.push("the 2D canvas");
    return missing;
  }

  // The backend: WebAssembly (with SIMD: every browser since 2023), else WebGL on a graphics
  // card, else plain JavaScript ("cpu"); not WebGL drawn in software (SwiftShader,
  // llvmpipe), slower to start than the CPU backend (benchmarks/README.md).
  // ?backend=cpu, webgl or wasm in the page's address chooses.
  async function chooseBackend() {
    const wanted = new URLSearchParams(location.search).get("backend");
    const candidates = wanted ? [wanted]
      : ["wasm", ...(hardwareWebGL() ? ["webgl"] : []), "cpu"];
    for (const name of candidates) {
      try {
        if (name === "wasm" && !(await wasmReady())) continue;
        if (await tf.setBackend(name)) {
          tf.tidy(() => tf.add(tf.ones([2]), tf.ones([2])).dataSync());  // it really runs
          return tf.getBackend();
        }
      } catch (error) {
        api.backendErrors = (api.backendErrors || []).concat(`${name}: ${error}`);
      }
    }
    await tf.setBackend("cpu");
    return tf.getBackend();
  }

  // TensorFlow.js' WebAssembly binary comes in a script (wasm-simd.js: file:// pages may
  // not fetch files), handed over as a blob: URL. One thread: several need a page served
  // with cross-origin isolation, which a file never is.
  async function wasmReady() {
    if (typeof WebAssembly !== "object" || !tf.wasm || !window.TFJS_WASM_SIMD) return false;
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    if (!(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"))) return false;
    const binary = new Blob([fromZ85(window.TFJS_WASM_SIMD)], {type: "application/wasm"});
    const url = URL.createObjectURL(binary);
    // setWasmPaths wants all three names; with SIMD and one thread only the first is loaded.
    tf.wasm.setWasmPaths({"tfjs-backend-wasm-simd.wasm": url, "tfjs-backend-wasm.wasm": url,
                          "tfjs-backend-wasm-threaded-simd.wasm": url});
    return true;
  }

  function hardwareWebGL() {
    try {
      const gl = document.createElement("canvas").getContext("webgl2") ||
                 document.createElement("canvas").getContext("webgl");
      if (!gl) return false;
      const info = gl.getExtension("WEBGL_debug_renderer_info");
      const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
      const lose = gl.getExtension("WEBGL_lose_context");
      if (lose) lose.loseContext();
      return !/swiftshader|llvmpipe|software/i.test(renderer);
    } catch (error) {
      return false;
    }
  }

  function fail(title, detail) {
    root.replaceChildren(el("div", {class: "explorer-message explorer-error", role: "alert"}, [
      el("strong", {text: title}), " ", detail]));
    root.dataset.state = "unavailable";
  }

  // -- the network ------------------------------------------------------------------------
  function halfToFloatTable() {
    const table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
      table[h] = exponent === 0 ? sign * mantissa * 2 ** -24
        : exponent === 31 ? (mantissa ? NaN : sign * Infinity)
          : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
    }
    return table;
  }

  // Z85 text (scripts/export_tfjs.py, z85) -> bytes: five characters for four bytes.
  const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  const Z85_VALUE = new Uint8Array(128);
  for (let i = 0; i < Z85.length; i++) Z85_VALUE[Z85.charCodeAt(i)] = i;

  function fromZ85({bytes: length, z85: text}) {
    const bytes = new Uint8Array(text.length / 5 * 4);
    for (let i = 0, j = 0; i < text.length; i += 5, j += 4) {
      let value = 0;
      for (let k = 0; k < 5; k++) value = value * 85 + Z85_VALUE[text.charCodeAt(i + k)];
      bytes[j] = value >>> 24;
      bytes[j + 1] = (value >>> 16) & 255;
      bytes[j + 2] = (value >>> 8) & 255;
      bytes[j + 3] = value & 255;
    }
    return bytes.subarray(0, length);
  }

  // {bytes, z85} of zlib-compressed bytes -> the bytes.
  async function inflateZ85(encoded) {
    const stream = new Blob([fromZ85(encoded)]).stream()
      .pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  async function decodeWeights(encoded, count) {
    // Z85 -> zlib -> byte planes (count low bytes, then count high bytes) -> float32
    const planes = await inflateZ85(encoded);
    if (planes.length !== 2 * count) {
      throw new Error(`the exported weights hold ${planes.length / 2} numbers, expected ${count}`);
    }
    const table = halfToFloatTable(), values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = table[planes[i] | (planes[count + i] << 8)];
    return values;
  }

  // The network's tensors, on the current backend, from the decoded weights.
  function buildNetwork(spec, values) {
    const tensor = (entry) => tf.tensor(
      values.subarray(entry.offset, entry.offset + entry.shape.reduce((a, b) => a * b, 1)),
      entry.shape, "float32");
    const layer = (entry) => ({...entry, kernel: tensor(entry.kernel), bias: tensor(entry.bias)});
    return {
      stem: layer(spec.stem),
      blocks: spec.blocks.map((block) => ({...block, layers: block.layers.map(layer)})),
      head: layer(spec.head),
      predictions: layer(spec.predictions),
      classes: spec.classes,
    };
  }

  // One convolution with its folded batch norm. `fused`: TensorFlow.js' fused kernels, for
  // the forward pass; the plain ops inside tf.grad, whose gradients every backend has.
  function convolution(layer, x, fused) {
    const args = {x, filter: layer.kernel, strides: layer.stride, pad: "same", bias: layer.bias,
                  activation: layer.relu6 ? "relu6" : "linear"};
    if (fused) {
      return layer.kind === "depthwise" ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
    }
    const y = tf.add(layer.kind === "depthwise"
      ? tf.depthwiseConv2d(x, layer.kernel, layer.stride, "same")
      : tf.conv2d(x, layer.kernel, layer.stride, "same"), layer.bias);
    return layer.relu6 ? tf.relu6(y) : y;
  }

  // x (1, 224, 224, 3) -> A, head_relu's output (1, 7, 7, 1280).
  function featureMaps(net, x, fused) {
    let y = convolution(net.stem, x, fused);
    for (const block of net.blocks) {
      const input = y;
      for (const layer of block.layers) y = convolution(layer, y, fused);
      if (block.residual) y = tf.add(input, y);
    }
    return convolution(net.head, y, fused);
  }

  // A (1, 7, 7, 1280) -> logits (1, 1000): global average pooling, then Dense.
  function logitsOf(net, features) {
    return tf.add(tf.matMul(tf.mean(features, [1, 2]), net.predictions.kernel),
                  net.predictions.bias);
  }

  // upsample(ReLU(sum_k w^c_k A^k)) at 224x224, as helpers.explain.cam.
  function classActivationMap(net, features, classIndex) {
    return tf.tidy(() => {
      const [, h, w, channels] = features.shape;
      const weights = tf.slice(net.predictions.kernel, [0, classIndex], [channels, 1]);
      const coarse = tf.relu(tf.matMul(tf.reshape(features, [h * w, channels]), weights));
      const resized = tf.image.resizeBilinear(tf.reshape(coarse, [1, h, w, 1]), [SIZE, SIZE],
                                              false, true);
      return tf.relu(tf.reshape(resized, [SIZE, SIZE]));
    });
  }

  // max over channels of |d y^c / d x|, as helpers.explain.saliency. The gradient is taken
  // stage by stage (stem, 16 blocks, head and classifier), backwards, each stage's
  // vector-Jacobian product from the one after it (the chain rule, which is all tf.grad
  // does in one go), with a pause between stages so that the page stays responsive.
  // `wanted()` false: stop and return null (the reader has moved on).
  async function saliencyMap(net, x, classIndex, wanted) {
    const stages = [(t) => convolution(net.stem, t, false)];
    for (const block of net.blocks) {
      stages.push((t) => {
        let y = t;
        for (const layer of block.layers) y = convolution(layer, y, false);
        return block.residual ? tf.add(t, y) : y;
      });
    }
    stages.push((t) => tf.sum(tf.slice(logitsOf(net, convolution(net.head, t, false)),
                                       [0, classIndex], [1, 1])));
    const inputs = [x];
    let gradient = null;
    try {
      for (const stage of stages.slice(0, -1)) {
        inputs.push(tf.tidy(() => stage(inputs[inputs.length - 1])));
        if (inputs.length % 6 === 0) {
          await pause();
          if (!wanted()) return null;
        }
      }
      for (let i = stages.length - 1; i >= 0; i--) {
        await pause();
        if (!wanted()) return null;
        const upstream = gradient;
        gradient = tf.tidy(() => tf.grad(stages[i])(inputs[i], upstream || undefined));
        if (upstream) upstream.dispose();
      }
      return tf.tidy(() => tf.reshape(tf.max(tf.abs(gradient), -1), [SIZE, SIZE]));
    } finally {
      tf.dispose(inputs.slice(1));
      if (gradient) gradient.dispose();
    }
  }

  // TensorFlow.js 4.22's WebAssembly backend has the depthwise convolution but not its
  // gradient with respect to the input, which the saliency needs: here it is, in plain
  // JavaScript on the backend's memory. Each input pixel (i, j) of channel c collects
  //   dx[i, j, c] = sum over the outputs (oi, oj) that see it, through tap (p, q), of
  //                 dy[oi, oj, c] * filter[p, q, c]
  // with i = oi * stride - padTop + p (the same for j): the forward sum, run backwards.
  function registerDepthwiseGradient() {
    const name = "DepthwiseConv2dNativeBackpropInput";
    if (tf.getKernel(name, "wasm")) return;  // a later TensorFlow.js may have it
    tf.registerKernel({kernelName: name, backendName: "wasm", kernelFunc: ({inputs, backend,
                                                                           attrs}) => {
      const {dy, filter} = inputs;
      const info = tf.backend_util.computeConv2DInfo(
        attrs.inputShape, filter.shape, attrs.strides, attrs.dilations, attrs.pad,
        attrs.dimRoundingMode, true);
      if (info.outChannels !== info.inChannels || info.dilationHeight !== 1 ||
          info.dilationWidth !== 1) {
        throw new Error(`${name}: only a channel multiplier of 1 and no dilation`);
      }
      const out = backend.makeOutput(info.inShape, "float32");  // may move the heap: first
      const dx = backend.typedArrayFromHeap(out);
      const g = backend.typedArrayFromHeap(dy), w = backend.typedArrayFromHeap(filter);
      const {batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth, filterHeight,
             filterWidth, strideHeight, strideWidth, padInfo} = info;
      dx.fill(0);
      for (let b = 0; b < batchSize; b++) {
        for (let oi = 0; oi < outHeight; oi++) {
          for (let oj = 0; oj < outWidth; oj++) {
            const from = ((b * outHeight + oi) * outWidth + oj) * C;
            for (let p = 0; p < filterHeight; p++) {
              const i = oi * strideHeight - padInfo.top + p;
              if (i < 0 || i >= inHeight) continue;
              for (let q = 0; q < filterWidth; q++) {
                const j = oj * strideWidth - padInfo.left + q;
                if (j < 0 || j >= inWidth) continue;
                const to = ((b * inHeight + i) * inWidth + j) * C, tap = (p * filterWidth + q) * C;
                for (let c = 0; c < C; c++) dx[to + c] += g[from + c] * w[tap + c];
              }
            }
          }
        }
      }
      return out;
    }});
  }

  // -- pictures in, pictures out ----------------------------------------------------------
  function canvas2d(width, height) {
    const canvas = el("canvas", {width, height});
    return [canvas, canvas.getContext("2d", {willReadFrequently: true})];
  }

  // The network's input from 224x224x3 values x in [0, 1]: (255 x - 127) / 128, as
  // helpers.imagenet.preprocess.
  function inputFrom(values) {
    return tf.tensor4d(values.map((x) => (255 * x - 127) / 128), [1, SIZE, SIZE, 3]);
  }

  // 224x224 RGBA pixels -> 224x224x3 values pixel / 255.
  function valuesFrom(pixels) {
    const values = new Float32Array(SIZE * SIZE * 3);
    for (let i = 0, j = 0; i < pixels.length; i += 4, j += 3) {
      values[j] = pixels[i] / 255;
      values[j + 1] = pixels[i + 1] / 255;
      values[j + 2] = pixels[i + 2] / 255;
    }
    return values;
  }

  // A book photo: {pixels, values}, the PNG's RGBA pixels (the upper 8 of 12 bits) and the
  // 12-bit values x = (16 png + low) / 4080 (scripts/export_tfjs.py, photo_entry).
  async function bookPhoto(name) {
    const entry = window.EXPLORER_PHOTOS[name];
    const pixels = await bookPhotoPixels(name, entry.png);
    const low = await inflateZ85(entry.low);
    const values = new Float32Array(SIZE * SIZE * 3);
    for (let j = 0; j < values.length; j++) {
      const nibble = (low[j >> 1] >> (4 * (j & 1))) & 15;
      values[j] = (16 * pixels[4 * Math.floor(j / 3) + (j % 3)] + nibble) / 4080;
    }
    return {pixels, values};
  }

  async function bookPhotoPixels(name, url) {
    // The PNG's own pixels: no color management, no resampling (it is 224x224 already).
    const blob = await (await fetchDataUrl(url)).blob();
    const bitmap = await createImageBitmap(blob, {colorSpaceConversion: "none",
                                                  premultiplyAlpha: "none"});
    if (bitmap.width !== SIZE || bitmap.height !== SIZE) {
      throw new Error(`the book's photo ${name} is ${bitmap.width}x${bitmap.height}, not 224x224`);
    }
    const [, context] = canvas2d(SIZE, SIZE);
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    return context.getImageData(0, 0, SIZE, SIZE).data;
  }

  function fetchDataUrl(url) {
    // A data: URL decoded here, not fetched: no request, from file:// as from a server.
    const comma = url.indexOf(",");
    const binary = atob(url.slice(comma + 1));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const type = url.slice(5, url.indexOf(";"));
    return Promise.resolve(new Response(new Blob([bytes], {type})));
  }

  function withTimeout(promise, ms, message) {
    let timer;
    return Promise.race([promise, new Promise((_, reject) => {
      timer = setTimeout(() => reject(new UserError(message)), ms);
    })]).finally(() => clearTimeout(timer));
  }

  class UserError extends Error {}     // the reader's input: a message, no console error
  class Unavailable extends Error {}   // this browser cannot run the page: said on the page

  // A reader's file -> {pixels, width, height}: decoded by the browser, resized to 224x224
  // without keeping its proportions (as helpers.imagenet.preprocess does), transparent
  // parts laid on white.
  async function filePixels(file) {
    const name = `"${file.name}"`;
    if (file.size === 0) throw new UserError(`${name} is empty (0 bytes).`);
    if (file.size > MAX_FILE_BYTES) {
      throw new UserError(`${name} is ${(file.size / 1e6).toFixed(0)} MB; this page reads ` +
                          `pictures up to ${MAX_FILE_BYTES / 1e6} MB.`);
    }
    const notAPicture = new UserError(`${name} is not a picture this browser can read (its ` +
                                      "bytes are not a JPEG, PNG, WebP, GIF or BMP image).");
    // Its size first, from the file's header (an <img> decodes only when drawn), so that a
    // huge picture is refused before it is decoded.
    const url = URL.createObjectURL(file);
    let width, height;
    try {
      const image = new Image();
      await withTimeout(new Promise((loaded, failed) => {
        image.onload = loaded;
        image.onerror = failed;
        image.src = url;
      }), DECODE_TIMEOUT, `${name} took more than ${DECODE_TIMEOUT / 1000} s to read.`);
      [width, height] = [image.naturalWidth, image.naturalHeight];
    } catch (error) {
      throw error instanceof UserError ? error : notAPicture;
    } finally {
      URL.revokeObjectURL(url);
    }
    if (!width || !height) throw notAPicture;
    if (width * height > MAX_PIXELS) {
      throw new UserError(`${name} is ${width} x ${height} pixels; this page reads pictures ` +
                          `up to ${MAX_PIXELS / 1e6} million pixels.`);
    }
    // Decoded and resized to 224 x 224 by the browser (high quality: anti-aliased).
    let small;
    try {
      small = await withTimeout(
        createImageBitmap(file, {resizeWidth: SIZE, resizeHeight: SIZE, resizeQuality: "high"}),
        DECODE_TIMEOUT, `${name} took more than ${DECODE_TIMEOUT / 1000} s to decode.`);
    } catch (error) {
      throw error instanceof UserError ? error : notAPicture;
    }
    const [, context] = canvas2d(SIZE, SIZE);
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, SIZE, SIZE);
    context.drawImage(small, 0, 0, SIZE, SIZE);
    small.close();
    const pixels = context.getImageData(0, 0, SIZE, SIZE).data;
    return {pixels, values: valuesFrom(pixels), width, height};
  }

  // values (224*224) in [0, 1] -> inferno colors blended over the photo with `alpha`.
  function paint(context, values, pixels, alpha) {
    const image = context.createImageData(SIZE, SIZE);
    const out = image.data;
    for (let i = 0; i < values.length; i++) {
      const level = 3 * Math.min(255, Math.max(0, Math.round(255 * values[i])));
      for (let c = 0; c < 3; c++) {
        const photo = pixels ? pixels[4 * i + c] : 0;
        out[4 * i + c] = (1 - alpha) * photo + alpha * INFERNO[level + c];
      }
      out[4 * i + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  }

  function colorbar(low, high, label) {
    const [canvas, context] = canvas2d(256, 1);
    const strip = context.createImageData(256, 1);
    for (let i = 0; i < 256; i++) {
      strip.data.set([INFERNO[3 * i], INFERNO[3 * i + 1], INFERNO[3 * i + 2], 255], 4 * i);
    }
    context.putImageData(strip, 0, 0);
    canvas.className = "explorer-colorbar-strip";
    canvas.setAttribute("aria-hidden", "true");
    return el("div", {class: "explorer-colorbar"}, [
      canvas, el("div", {class: "explorer-colorbar-ticks"}, [el("span", {text: low}),
                                                             el("span", {text: high})]),
      el("div", {class: "explorer-colorbar-label", text: label})]);
  }

  function quantile(values, q) {
    const sorted = Float32Array.from(values).sort();
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }

  function toBase64(typed) {
    const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  // -- the page ---------------------------------------------------------------------------
  function buildPage(classes) {
    const photoNames = Object.keys(window.EXPLORER_PHOTOS);
    const ui = {};
    ui.status = el("p", {class: "explorer-status", role: "status", "aria-live": "polite"});
    ui.backend = el("p", {class: "explorer-hint", text: api.backend === "wasm" ? "" :
      `This browser runs the network without WebAssembly (switched off, or missing), with ` +
      `TensorFlow.js' ${api.backend} backend: it works, more slowly (a photo takes seconds).`});
    ui.photo = el("select", {id: "explorer-photo", class: "explorer-control"}, photoNames.map(
      (name) => el("option", {value: name, text: name === COMPOSITE
        ? "chelsea | coffee (chapter 06's two-object composite)" : name})));
    ui.file = el("input", {id: "explorer-file", type: "file", accept: "image/*",
                           class: "explorer-file-input"});
    ui.drop = el("div", {class: "explorer-drop"}, [
      el("label", {for: "explorer-file", class: "explorer-button", text: "Open your photo…"}),
      ui.file, el("span", {class: "explorer-hint", text: " or drop one on this box."})]);
    ui.privacy = el("p", {class: "explorer-hint", text: "Your photo never leaves this " +
      "browser: it is read and explained on this page, with no connection to any server."});
    ui.top5 = el("ol", {class: "explorer-top5", "aria-label": "The network's top 5 classes"});
    ui.classList = el("datalist", {id: "explorer-classes"}, classes.map(
      (name, index) => el("option", {value: `${name} (${index})`})));
    ui.classInput = el("input", {id: "explorer-class", type: "text", list: "explorer-classes",
                                 class: "explorer-control", autocomplete: "off",
                                 placeholder: "for example: espresso", spellcheck: "false"});
    ui.classButton = el("button", {type: "button", class: "explorer-button", text: "Show"});
    ui.opacity = el("input", {id: "explorer-opacity", type: "range", min: 0, max: 100,
                              value: 60, class: "explorer-range"});
    ui.opacityValue = el("output", {for: "explorer-opacity", text: "60%"});
    [ui.photoCanvas, ui.photoContext] = canvas2d(SIZE, SIZE);
    [ui.camCanvas, ui.camContext] = canvas2d(SIZE, SIZE);
    [ui.saliencyCanvas, ui.saliencyContext] = canvas2d(SIZE, SIZE);
    ui.photoCaption = el("figcaption", {text: "The photo, 224 x 224, as the network sees it"});
    ui.camCaption = el("figcaption");
    ui.saliencyCaption = el("figcaption");
    ui.photoCanvas.setAttribute("role", "img");
    ui.camCanvas.setAttribute("role", "img");
    ui.saliencyCanvas.setAttribute("role", "img");

    const figure = (canvas, caption, extra) => el("figure", {class: "explorer-figure"},
                                                  [canvas, ...(extra || []), caption]);
    root.replaceChildren(
      el("div", {class: "explorer-controls"}, [
        el("div", {class: "explorer-row"}, [
          el("label", {for: "explorer-photo", text: "A photo of the book: "}), ui.photo]),
        ui.drop, ui.privacy, ui.backend]),
      ui.status,
      el("div", {class: "explorer-classes"}, [
        el("h3", {class: "explorer-heading", text: "Top 5 classes, with their probabilities"}),
        ui.top5,
        el("div", {class: "explorer-row"}, [
          el("label", {for: "explorer-class", text: "Or any of the 1000 classes: "}),
          ui.classInput, ui.classList, ui.classButton])]),
      el("div", {class: "explorer-figures"}, [
        figure(ui.photoCanvas, ui.photoCaption),
        figure(ui.camCanvas, ui.camCaption, [
          el("div", {class: "explorer-row"}, [
            el("label", {for: "explorer-opacity", text: "Map opacity "}), ui.opacity,
            ui.opacityValue]),
          colorbar("0", "its maximum", "class activation map, as a fraction of its maximum")]),
        figure(ui.saliencyCanvas, ui.saliencyCaption, [
          colorbar("0", "99th percentile or more",
                   "saliency |∂yᶜ/∂x|, as a fraction of its 99th percentile")])]));
    root.dataset.state = "ready";
    return ui;
  }

  function setStatus(ui, text, kind) {
    ui.status.textContent = text;
    ui.status.className = "explorer-status" + (kind ? ` explorer-${kind}` : "");
    ui.status.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  // -- the state machine: one job at a time, results of stale jobs dropped -----------------
  async function main() {
    const start = performance.now();
    const missing = missingFeatures();
    if (missing.length) {
      fail("This page needs a newer browser.", "It runs a neural network in the browser and " +
           `needs: ${missing.join(", ")}. Recent Chrome, Edge, Firefox and Safari have them all.`);
      throw new Unavailable("unsupported browser: " + missing.join(", "));
    }
    if (!window.EXPLORER_MODEL || !window.EXPLORER_PHOTOS) {
      fail("The network is missing.", "This copy of the book was built without the exported " +
           "network (_static/explorer-data/model.js); `make book` exports it.");
      throw new Unavailable("no exported network");
    }
    root.replaceChildren(el("p", {class: "explorer-message", role: "status",
      text: "Loading the network (EfficientNet-Lite0, 4.6 million weights)…"}));

    api.backend = await chooseBackend();
    const weights = await decodeWeights(window.EXPLORER_MODEL.weights,
                                        window.EXPLORER_MODEL.parameters);
    const net = buildNetwork(window.EXPLORER_MODEL, weights);
    if (api.backend === "wasm") registerDepthwiseGradient();
    api.timings.modelLoaded = performance.now() - start;
    const ui = buildPage(net.classes);
    // `requests` counts the reader's choices as they are made, `generation` the photos as
    // they are explained: a saliency still wanted is one no newer choice has overtaken.
    const state = {requests: 0, generation: 0, photo: null, pixels: null, values: null,
                   input: null, features: null, probabilities: null, classIndex: null,
                   cam: null, saliency: null, saliencyFor: null};
    let queue = Promise.resolve();

    function enqueue(task) {
      const run = queue.then(task).catch((error) => {
        const text = error instanceof UserError ? error.message
          : `Something went wrong: ${error && error.message ? error.message : error}`;
        setStatus(ui, text + " The last explanation stays on screen.", "error");
        if (!(error instanceof UserError)) console.error(error);
      });
      queue = run;
      return run;
    }

    function renderTop5() {
      const best = Array.from(state.probabilities.keys())
        .sort((a, b) => state.probabilities[b] - state.probabilities[a]).slice(0, 5);
      ui.top5.replaceChildren(...best.map((index) => {
        const p = state.probabilities[index];
        const button = el("button", {type: "button", class: "explorer-class",
                                     "aria-pressed": String(index === state.classIndex),
                                     onclick: () => api.showClass(index)}, [
          el("span", {class: "explorer-class-name", text: net.classes[index]}),
          el("span", {class: "explorer-bar", style: `width: ${Math.max(1, 100 * p)}%`,
                      "aria-hidden": "true"}),
          el("span", {class: "explorer-probability", text: percent(p)})]);
        return el("li", {"data-class-index": index, "data-probability": p}, [button]);
      }));
    }

    function renderCam() {
      const alpha = ui.opacity.value / 100;
      ui.opacityValue.textContent = `${ui.opacity.value}%`;
      const peak = state.cam.reduce((a, b) => Math.max(a, b), 0);
      const scaled = state.cam.map((v) => (peak > 0 ? v / peak : 0));
      paint(ui.camContext, scaled, state.pixels, alpha);
      const name = net.classes[state.classIndex];
      ui.camCaption.textContent = peak > 0
        ? `Class activation map of "${name}" (class ${state.classIndex}, p = ` +
          `${percent(state.probabilities[state.classIndex])})`
        : `Class activation map of "${name}": no positive evidence anywhere (all 0)`;
      ui.camCanvas.setAttribute("aria-label", ui.camCaption.textContent);
      for (const li of ui.top5.children) {
        li.firstChild.setAttribute("aria-pressed",
                                   String(Number(li.dataset.classIndex) === state.classIndex));
      }
    }

    function renderSaliency() {
      const name = net.classes[state.classIndex];
      if (!state.saliency || state.saliencyFor !== `${state.generation}:${state.classIndex}`) {
        ui.saliencyContext.fillStyle = "#808080";
        ui.saliencyContext.fillRect(0, 0, SIZE, SIZE);
        ui.saliencyCaption.textContent = `Saliency of "${name}": computing the gradient…`;
        return;
      }
      const cap = quantile(state.saliency, 0.99);
      paint(ui.saliencyContext, state.saliency.map((v) => (cap > 0 ? Math.min(1, v / cap) : 0)),
            null, 1);
      ui.saliencyCaption.textContent = `Saliency of "${name}": |∂yᶜ/∂x|, largest over the ` +
        "color channels";
      ui.saliencyCanvas.setAttribute("aria-label", ui.saliencyCaption.textContent);
    }

    // After a photo or a class: the saliency, one forward and one backward pass, later, so
    // that the map and the classes are on screen first. Skipped if something newer came.
    function scheduleSaliency() {
      const key = `${state.generation}:${state.classIndex}`, request = state.requests;
      const wanted = () => request === state.requests;
      enqueue(async () => {
        // A moment for the reader's next click (or the next keystroke) to overtake it.
        await new Promise((resume) => setTimeout(resume, 100));
        if (!wanted()) return;
        const began = performance.now();
        const map = await saliencyMap(net, state.input, state.classIndex, wanted);
        if (!map) return;
        state.saliency = await map.data();
        map.dispose();
        state.saliencyFor = key;
        api.timings.lastSaliency = performance.now() - began;
        renderSaliency();
      });
    }

    function explain({pixels, values}, label) {
      const began = performance.now();
      state.generation += 1;
      if (state.input) state.input.dispose();
      if (state.features) state.features.dispose();
      state.pixels = pixels;
      state.values = values;
      state.photo = label;
      state.input = inputFrom(values);
      state.features = tf.tidy(() => featureMaps(net, state.input, true));
      const logits = logitsOf(net, state.features);
      const probabilities = tf.softmax(logits);
      state.probabilities = probabilities.dataSync();
      tf.dispose([logits, probabilities]);
      state.classIndex = state.probabilities.indexOf(Math.max(...state.probabilities));
      const photo = ui.photoContext.createImageData(SIZE, SIZE);
      photo.data.set(pixels);
      ui.photoContext.putImageData(photo, 0, 0);
      ui.photoCanvas.setAttribute("aria-label", `The photo: ${label}`);
      renderTop5();
      showCam();
      api.timings.lastPhoto = performance.now() - began;
      setStatus(ui, `${label}: the network's answer is "${net.classes[state.classIndex]}" ` +
                    `(${percent(state.probabilities[state.classIndex])}). Pick another class ` +
                    "to see where its evidence is.");
    }

    function showCam() {
      const map = classActivationMap(net, state.features, state.classIndex);
      state.cam = map.dataSync();
      map.dispose();
      renderCam();
      renderSaliency();
    }

    api.showPhoto = (name) => {
      if (!(name in window.EXPLORER_PHOTOS)) {
        return Promise.reject(new Error(`no photo ${name}; the book's photos are ` +
                                        Object.keys(window.EXPLORER_PHOTOS).join(", ")));
      }
      ui.photo.value = name;
      state.requests += 1;
      return enqueue(async () => {
        setStatus(ui, `Explaining ${name}…`);
        await pause();
        explain(await bookPhoto(name), name);
        scheduleSaliency();
      });
    };

    api.showFile = (file) => {
      state.requests += 1;
      return enqueue(async () => {
        setStatus(ui, `Reading "${file.name}"…`);
        await pause();
        const {pixels, values, width, height} = await filePixels(file);
        let option = ui.photo.querySelector("option[data-own]");
        if (!option) {
          option = el("option", {"data-own": true});
          ui.photo.append(option);
        }
        option.value = "";
        option.textContent = `your photo: ${file.name}`;
        ui.photo.value = "";
        explain({pixels, values}, `"${file.name}" (${width} x ${height}, resized to 224 x 224)`);
        scheduleSaliency();
      });
    };

    api.showClass = (index) => {
      if (!Number.isInteger(index) || index < 0 || index >= net.classes.length) {
        return Promise.reject(new Error(`a class index is an integer from 0 to 999, got ${index}`));
      }
      state.requests += 1;
      return enqueue(async () => {
        const began = performance.now();
        state.classIndex = index;
        showCam();
        api.timings.lastClass = performance.now() - began;
        setStatus(ui, `Showing "${net.classes[index]}" (class ${index}, p = ` +
                      `${percent(state.probabilities[index])}).`);
        scheduleSaliency();
      });
    };

    api.requests = () => state.requests;
    api.idle = async () => {
      let seen;
      do {
        seen = queue;
        await seen;
      } while (seen !== queue);
    };

    api.result = () => ({
      photo: state.photo, classIndex: state.classIndex, backend: api.backend,
      status: ui.status.textContent, statusKind: ui.status.className,
      probabilities: Array.from(state.probabilities),
      cam: toBase64(state.cam), pixels: toBase64(state.pixels), values: toBase64(state.values),
      saliency: state.saliencyFor === `${state.generation}:${state.classIndex}`
        ? toBase64(state.saliency) : null,
    });

    // -- the reader's controls --------------------------------------------------------------
    ui.photo.addEventListener("change", () => {
      if (ui.photo.value) api.showPhoto(ui.photo.value);
    });
    ui.file.addEventListener("change", () => {
      if (ui.file.files.length) api.showFile(ui.file.files[0]);
      ui.file.value = "";  // the same file again is a new choice
    });
    ui.opacity.addEventListener("input", () => state.cam && renderCam());
    const chooseTyped = () => {
      const typed = ui.classInput.value.trim();
      if (!typed) return;
      const byIndex = typed.match(/\((\d+)\)\s*$/) || typed.match(/^(\d+)$/);
      let matches = byIndex ? [Number(byIndex[1])].filter((i) => i < net.classes.length)
        : net.classes.flatMap((name, i) => (name.toLowerCase() === typed.toLowerCase() ? [i] : []));
      if (!matches.length && !byIndex) {
        matches = net.classes.flatMap((name, i) =>
          (name.toLowerCase().includes(typed.toLowerCase()) ? [i] : []));
      }
      if (matches.length === 1) {
        api.showClass(matches[0]);
      } else if (matches.length > 1) {
        setStatus(ui, `${matches.length} classes match "${typed}": ` +
          matches.slice(0, 8).map((i) => `${net.classes[i]} (${i})`).join(", ") +
          (matches.length > 8 ? ", …" : "") + ". Pick one from the list.", "error");
      } else {
        setStatus(ui, `No ImageNet class is called "${typed}". Type part of a name and pick ` +
                      "one from the list (for example: espresso).", "error");
      }
    };
    ui.classButton.addEventListener("click", chooseTyped);
    ui.classInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        chooseTyped();
      }
    });
    ui.classInput.addEventListener("change", () => {
      if (/\(\d+\)\s*$/.test(ui.classInput.value)) chooseTyped();  // picked from the list
    });
    root.addEventListener("dragover", (event) => {
      event.preventDefault();
      root.classList.add("explorer-dragging");
    });
    root.addEventListener("dragleave", () => root.classList.remove("explorer-dragging"));
    root.addEventListener("drop", (event) => {
      event.preventDefault();
      root.classList.remove("explorer-dragging");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) api.showFile(file);
    });

    await api.showPhoto(DEFAULT_PHOTO);
    api.timings.firstExplanation = performance.now();
    api.timings.firstExplanationSinceScript = performance.now() - start;
  }

  api.ready = main().catch((error) => {
    if (!(error instanceof Unavailable)) {
      fail("The explorer could not start.",
           String(error && error.message ? error.message : error));
      console.error(error);
    }
    throw error;
  });
  api.ready.catch(() => {});
})();
