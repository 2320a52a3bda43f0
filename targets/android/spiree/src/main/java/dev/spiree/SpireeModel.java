package dev.spiree;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.Charset;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A spiree model (model.vmfb + model.json) loaded into the IREE runtime, ready to run.
 *
 * <pre>{@code
 * try (SpireeModel m = SpireeModel.fromFile("/data/.../model.vmfb")) {   // model.json beside it
 *   float[] logits = m.run(pixels, 1, 3, 224, 224);
 * }
 * }</pre>
 *
 * <p>On Android, {@code dev.spiree.android.SpireeAndroid.load(context)} loads the model that
 * {@code spiree android} put into the app's assets.
 *
 * <p>Every call is checked against the signature in model.json; a mismatch is an {@link
 * IllegalArgumentException} naming the expected and the actual shape. Loading checks that the
 * vmfb holds executables for the arch the native library was built for (arm64 in an Android app:
 * {@code embedded-elf-arm_64}; a desktop JVM on x86-64: {@code embedded-elf-x86_64}, for the
 * vmfbs {@code spiree compile --target host} writes), that it is the one model.json describes
 * (SHA-256), and that it was compiled by the same IREE release as the runtime. Failures are
 * {@link SpireeException}s; those from the runtime carry IREE's message.
 *
 * <p>Copies: the runtime uses an input in place when its first element is 64-byte aligned
 * ({@link #ALIGNMENT}; IREE imports host memory at no other alignment) and copies it once per
 * call otherwise ({@link #copiedInputs()} counts those copies). {@link #newInputBuffer} and the
 * {@code float[]} API use aligned buffers. Each output is copied once from the runtime's result
 * into the caller's buffer. The vmfb is used in place when it starts 64-byte aligned: a mapped
 * file always does; a heap buffer is first copied once into an aligned direct buffer; a
 * misaligned direct buffer is copied once at load.
 *
 * <p>{@link #run} calls are serialized (an IREE session is used by one thread at a time); use
 * one model per thread for parallel inference. {@link #close()} frees the native session; a
 * closed model throws {@link IllegalStateException}.
 */
public final class SpireeModel implements AutoCloseable {
  /** The executable format the Android runtime (embedded-ELF loader on arm64-v8a) loads. */
  public static final String ANDROID_EXECUTABLE_FORMAT = "embedded-elf-arm_64";

  /** The alignment in bytes at which the runtime uses an input buffer in place. */
  public static final int ALIGNMENT = 64;

  /** Load-time options. */
  public static final class Options {
    private int threads = 0;
    private boolean verifyChecksum = true;

    public Options() {}

    /**
     * Worker threads: 1 runs on the calling thread (local-sync device, no worker threads); N &gt; 1
     * uses the local-task device with N workers, unpinned. 0 (default) is IREE's own topology: one
     * worker per physical core of the CPU cluster that the loading thread happens to run on when
     * the model is created, so on a big.LITTLE phone it can be the little cores, and the count can
     * differ from load to load; pass N for a fixed count.
     */
    public Options threads(int n) {
      if (n < 0 || n > 64) {
        throw new IllegalArgumentException("threads must be 0 (IREE default), 1 (calling thread) "
            + "or 2..64, got " + n);
      }
      threads = n;
      return this;
    }

    public int threads() {
      return threads;
    }

    /** Whether to check model.vmfb's SHA-256 against model.json on load (default true). */
    public Options verifyChecksum(boolean verify) {
      verifyChecksum = verify;
      return this;
    }

    public boolean verifyChecksum() {
      return verifyChecksum;
    }
  }

  private static final Pattern RELEASE = Pattern.compile("^[0-9]+\\.[0-9]+\\.[0-9]+");

  private final Backend backend;
  private final ModelManifest manifest;
  private final int threads;
  private final long[][] inputShapes;
  private final long[][] outputShapes;
  private ByteBuffer vmfb; // kept reachable: the native module reads it in place
  private long handle;
  private FloatBuffer[] scratchInputs; // aligned direct copies for the float[] API, made on first use
  private FloatBuffer[] scratchOutputs;
  private long copiedInputs;

  private SpireeModel(Backend backend, ByteBuffer vmfb, ModelManifest manifest, Options options) {
    this.backend = backend;
    this.manifest = manifest;
    this.threads = options.threads();
    this.vmfb = vmfb;
    this.inputShapes = shapes(manifest.inputs());
    this.outputShapes = shapes(manifest.outputs());
    this.handle = backend.create(vmfb, manifest.entry(), threads);
    if (handle == 0) {
      throw new SpireeException("the IREE runtime returned no session for " + manifest.modelName());
    }
  }

  // --- loading ---------------------------------------------------------------------------------

  /** Loads {@code path} (a .vmfb) with the .json manifest beside it (model.vmfb -> model.json). */
  public static SpireeModel fromFile(String path) {
    return fromFile(new File(path), new Options());
  }

  /** Loads {@code vmfb} with the .json manifest beside it (model.vmfb -> model.json). */
  public static SpireeModel fromFile(File vmfb, Options options) {
    File json = manifestFile(vmfb);
    if (!vmfb.isFile()) {
      throw new SpireeException("model file " + vmfb + " does not exist: write it with "
          + "`spiree android MODEL -o DIR` and ship model.vmfb with model.json beside it");
    }
    if (!json.isFile()) {
      throw new SpireeException("manifest " + json + " is missing next to " + vmfb.getName()
          + ": keep the model.json that `spiree android` wrote beside the .vmfb");
    }
    return fromFile(vmfb, readText(json), options);
  }

  /**
   * Loads {@code vmfb} with the given model.json text. The file is memory-mapped and the IREE
   * runtime uses the mapping in place (no copy, no Java heap).
   */
  public static SpireeModel fromFile(File vmfb, String manifestJson, Options options) {
    return create(NativeBackend.get(), mapFile(vmfb), manifestJson, options);
  }

  /**
   * Loads a vmfb held in memory. A direct buffer whose position is 64-byte aligned is used in place
   * (keep its contents unchanged; the model keeps a reference until {@link #close()}), another
   * direct buffer is copied once by the runtime; a heap buffer is copied once into an aligned
   * direct one. The bytes used are those from the buffer's position to its limit.
   */
  public static SpireeModel fromBuffer(ByteBuffer vmfb, String manifestJson, Options options) {
    return create(NativeBackend.get(), vmfb, manifestJson, options);
  }

  /** The load path with the backend made explicit (tests pass a pure-Java one). */
  static SpireeModel create(Backend backend, ByteBuffer vmfb, String manifestJson, Options options) {
    if (vmfb == null || manifestJson == null || options == null) {
      throw new IllegalArgumentException("vmfb, manifestJson and options must not be null");
    }
    ModelManifest manifest = ModelManifest.parse(manifestJson);
    String format = backend.executableFormat();
    checkTarget(manifest, format);
    ByteBuffer bytes = vmfb.slice();
    if (!bytes.isDirect()) {
      ByteBuffer direct = alignedDirect(backend, bytes.remaining());
      direct.put(bytes.duplicate());
      direct.flip();
      bytes = direct;
    }
    if (!bytes.hasRemaining()) {
      throw new SpireeException("model.vmfb is empty: write the bundle again with `spiree android`");
    }
    if (!contains(bytes, format)) {
      throw new SpireeException("model.vmfb contains no " + format + " executable, so it was not "
          + "compiled for " + runtimeName(format) + ": " + howToCompile(format));
    }
    if (options.verifyChecksum()) {
      String sha = sha256(bytes);
      if (!sha.equals(manifest.vmfbSha256())) {
        throw new SpireeException("model.vmfb does not match model.json (SHA-256 " + sha.substring(0, 12)
            + "..., model.json expects " + manifest.vmfbSha256().substring(0, 12) + "...): ship the "
            + "two files `spiree android` wrote together");
      }
    }
    checkVersions(manifest.compilerVersion(), backend.runtimeVersion());
    return new SpireeModel(backend, bytes, manifest, options);
  }

  private static void checkTarget(ModelManifest m, String format) {
    if (!format.equals(m.executableFormat())) {
      throw new SpireeException("model.vmfb was compiled for target '" + m.target() + "' ("
          + m.executableFormat() + "), which " + runtimeName(format) + " cannot load: "
          + howToCompile(format));
    }
    for (List<TensorSpec> specs : Arrays.asList(m.inputs(), m.outputs())) {
      for (TensorSpec s : specs) {
        if (!"float32".equals(s.dtype())) {
          throw new SpireeException("tensor " + s + " is not float32; the Java API passes float32 "
              + "tensors only");
        }
      }
    }
  }

  /** Who runs executables of {@code format}: the runtime built for that arch. */
  static String runtimeName(String format) {
    if (ANDROID_EXECUTABLE_FORMAT.equals(format)) {
      return "the arm64 runtime (Android arm64-v8a, " + format + ")";
    }
    return "this runtime (" + format + ")";
  }

  static String howToCompile(String format) {
    if (ANDROID_EXECUTABLE_FORMAT.equals(format)) {
      return "compile it with `spiree android MODEL` (target arm64)";
    }
    return "compile it for this machine with `spiree compile MODEL --target host`";
  }

  static void checkVersions(String compiler, String runtime) {
    if (!release(compiler).equals(release(runtime))) {
      throw new SpireeException("model.vmfb was compiled with IREE " + compiler + " but this app's "
          + "IREE runtime is " + runtime + ": recompile the model with a spiree that pins "
          + "iree-base-compiler==" + release(runtime) + ", or build the runtime from the IREE "
          + release(compiler) + " source (IREE_SOURCE_DIR)");
    }
  }

  private static String release(String version) {
    Matcher m = RELEASE.matcher(version == null ? "" : version);
    return m.find() ? m.group() : String.valueOf(version);
  }

  // --- running ---------------------------------------------------------------------------------

  /**
   * Runs the model on direct, native-order FloatBuffers with the shapes from model.json. Inputs
   * are read from position to limit, outputs written from their position; positions are not
   * changed.
   */
  public void run(FloatBuffer[] inputs, FloatBuffer[] outputs) {
    run(inputs, inputShapes, outputs);
  }

  /** As {@link #run(FloatBuffer[], FloatBuffer[])}, with the caller's input shapes checked too. */
  public synchronized void run(FloatBuffer[] inputs, long[][] shapes, FloatBuffer[] outputs) {
    checkOpen();
    checkInputs(inputs == null ? -1 : inputs.length, shapes);
    FloatBuffer[] in = new FloatBuffer[inputs.length];
    for (int i = 0; i < inputs.length; i++) {
      in[i] = checkBuffer("input", manifest.inputs().get(i), inputs[i], false);
    }
    FloatBuffer[] out = checkOutputs(outputs);
    copiedInputs += backend.call(handle, in, inputShapes, out, outputShapes);
  }

  /** Runs the model on float arrays with their shapes; returns one array per output. */
  public synchronized float[][] run(float[][] inputs, long[][] shapes) {
    checkOpen();
    checkInputs(inputs == null ? -1 : inputs.length, shapes);
    if (scratchInputs == null) {
      scratchInputs = allocate(backend, manifest.inputs());
      scratchOutputs = allocate(backend, manifest.outputs());
    }
    for (int i = 0; i < inputs.length; i++) {
      TensorSpec spec = manifest.inputs().get(i);
      if (inputs[i] == null) {
        throw new IllegalArgumentException("input '" + spec.name() + "' is null");
      }
      if (inputs[i].length != spec.elementCount()) {
        throw new IllegalArgumentException("input '" + spec.name() + "' has shape "
            + Arrays.toString(shapes[i]) + " (" + spec.elementCount() + " elements) but the array holds "
            + inputs[i].length + " floats");
      }
      scratchInputs[i].clear();
      scratchInputs[i].put(inputs[i]);
      scratchInputs[i].flip();
    }
    copiedInputs += backend.call(handle, scratchInputs, inputShapes, scratchOutputs, outputShapes);
    float[][] results = new float[scratchOutputs.length][];
    for (int i = 0; i < results.length; i++) {
      results[i] = new float[(int) manifest.outputs().get(i).elementCount()];
      scratchOutputs[i].clear();
      scratchOutputs[i].get(results[i]);
    }
    return results;
  }

  /** One input, one output: {@code float[] logits = model.run(pixels, 1, 3, 224, 224)}. */
  public float[] run(float[] input, long... shape) {
    if (manifest.inputs().size() != 1 || manifest.outputs().size() != 1) {
      throw new IllegalArgumentException("run(float[], shape) is for models with one input and one "
          + "output; this one is " + manifest.signature() + ": use run(float[][], long[][])");
    }
    return run(new float[][] {input}, new long[][] {shape})[0];
  }

  private void checkInputs(int count, long[][] shapes) {
    List<TensorSpec> specs = manifest.inputs();
    if (count != specs.size()) {
      throw new IllegalArgumentException("the model takes " + specs.size() + " input(s) "
          + manifest.signature() + ", got " + (count < 0 ? "null" : String.valueOf(count)));
    }
    if (shapes == null || shapes.length != specs.size()) {
      throw new IllegalArgumentException("pass one shape per input (" + specs.size() + "), got "
          + (shapes == null ? "null" : String.valueOf(shapes.length)));
    }
    for (int i = 0; i < specs.size(); i++) {
      TensorSpec spec = specs.get(i);
      if (shapes[i] == null || !spec.hasShape(shapes[i])) {
        throw new IllegalArgumentException("input '" + spec.name() + "' must be " + spec.describe()
            + ", got shape " + Arrays.toString(shapes[i])
            + ": resize the input or recompile the model for this shape");
      }
    }
  }

  private FloatBuffer[] checkOutputs(FloatBuffer[] outputs) {
    List<TensorSpec> specs = manifest.outputs();
    if (outputs == null || outputs.length != specs.size()) {
      throw new IllegalArgumentException("the model returns " + specs.size() + " output(s) "
          + manifest.signature() + ", got " + (outputs == null ? "null" : String.valueOf(outputs.length))
          + " output buffer(s)");
    }
    FloatBuffer[] out = new FloatBuffer[outputs.length];
    for (int i = 0; i < outputs.length; i++) {
      out[i] = checkBuffer("output", specs.get(i), outputs[i], true);
    }
    return out;
  }

  private static FloatBuffer checkBuffer(String kind, TensorSpec spec, FloatBuffer b, boolean output) {
    String what = kind + " '" + spec.name() + "' (" + spec.describe() + ")";
    if (b == null) {
      throw new IllegalArgumentException(what + " is null");
    }
    if (!b.isDirect()) {
      throw new IllegalArgumentException(what + " must be a direct FloatBuffer: "
          + "ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer()");
    }
    if (b.order() != ByteOrder.nativeOrder()) {
      throw new IllegalArgumentException(what + " must be in native byte order: "
          + ".order(ByteOrder.nativeOrder()) before .asFloatBuffer()");
    }
    if (output && b.isReadOnly()) {
      throw new IllegalArgumentException(what + " is read-only");
    }
    long n = spec.elementCount();
    if (output ? b.remaining() < n : b.remaining() != n) {
      throw new IllegalArgumentException(what + " needs " + n + " floats, the buffer has "
          + b.remaining() + " remaining");
    }
    return b.slice(); // position 0 at the caller's position; the native side sees its address
  }

  private static FloatBuffer[] allocate(Backend backend, List<TensorSpec> specs) {
    FloatBuffer[] b = new FloatBuffer[specs.size()];
    for (int i = 0; i < b.length; i++) {
      b[i] = alignedFloats(backend, specs.get(i).elementCount());
    }
    return b;
  }

  /** A direct buffer of {@code bytes} bytes whose first byte is {@link #ALIGNMENT}-aligned. */
  static ByteBuffer alignedDirect(Backend backend, int bytes) {
    ByteBuffer raw = ByteBuffer.allocateDirect(bytes + ALIGNMENT - 1);
    int offset = (int) ((ALIGNMENT - backend.address(raw) % ALIGNMENT) % ALIGNMENT);
    raw.position(offset);
    raw.limit(offset + bytes);
    return raw.slice(); // keeps `raw` reachable
  }

  private static FloatBuffer alignedFloats(Backend backend, long count) {
    if (count > Integer.MAX_VALUE / 4 - ALIGNMENT) {
      throw new IllegalArgumentException("a tensor of " + count + " floats does not fit a Java buffer");
    }
    return alignedDirect(backend, (int) (4 * count)).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  /**
   * A direct, native-order buffer for input {@code index}, sized to its shape and 64-byte aligned,
   * so {@link #run(FloatBuffer[], FloatBuffer[])} passes it to the runtime without a copy.
   */
  public FloatBuffer newInputBuffer(int index) {
    return alignedFloats(backend, manifest.inputs().get(index).elementCount());
  }

  /** A direct, native-order buffer for output {@code index}, sized to its shape. */
  public FloatBuffer newOutputBuffer(int index) {
    return alignedFloats(backend, manifest.outputs().get(index).elementCount());
  }

  /**
   * How many input tensors the runtime copied so far because they were not {@link #ALIGNMENT}-byte
   * aligned (0 as long as every input comes from {@link #newInputBuffer} or the float[] API).
   */
  public synchronized long copiedInputs() {
    return copiedInputs;
  }

  private void checkOpen() {
    if (handle == 0) {
      throw new IllegalStateException("this SpireeModel (" + manifest.modelName() + ") is closed");
    }
  }

  // --- metadata and lifecycle ------------------------------------------------------------------

  public ModelManifest manifest() {
    return manifest;
  }

  public List<TensorSpec> inputs() {
    return manifest.inputs();
  }

  public List<TensorSpec> outputs() {
    return manifest.outputs();
  }

  public int threads() {
    return threads;
  }

  public synchronized boolean isClosed() {
    return handle == 0;
  }

  /** Frees the native session and module; idempotent. */
  @Override
  public synchronized void close() {
    if (handle != 0) {
      long h = handle;
      handle = 0;
      backend.destroy(h);
    }
    vmfb = null;
    scratchInputs = null;
    scratchOutputs = null;
  }

  @Override
  public String toString() {
    return "SpireeModel(" + manifest.modelName() + " " + manifest.signature() + ", threads=" + threads
        + (handle == 0 ? ", closed)" : ")");
  }

  // --- helpers ---------------------------------------------------------------------------------

  static File manifestFile(File vmfb) {
    String name = vmfb.getName();
    String base = name.endsWith(".vmfb") ? name.substring(0, name.length() - 5) : name;
    return new File(vmfb.getParentFile(), base + ".json");
  }

  private static ByteBuffer mapFile(File f) {
    if (!f.isFile()) {
      throw new SpireeException("model file " + f + " does not exist");
    }
    try (RandomAccessFile raf = new RandomAccessFile(f, "r"); FileChannel ch = raf.getChannel()) {
      return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()); // stays valid after close
    } catch (IOException e) {
      throw new SpireeException("cannot read " + f + ": " + e.getMessage(), e);
    }
  }

  static String readText(File f) {
    try (InputStream in = new FileInputStream(f)) {
      return readText(in);
    } catch (IOException e) {
      throw new SpireeException("cannot read " + f + ": " + e.getMessage(), e);
    }
  }

  /** Reads a UTF-8 stream to the end (used for model.json from files and Android assets). */
  public static String readText(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    for (int n; (n = in.read(buf)) > 0; ) {
      out.write(buf, 0, n);
    }
    return new String(out.toByteArray(), Charset.forName("UTF-8"));
  }

  static String sha256(ByteBuffer bytes) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(bytes.duplicate());
      StringBuilder b = new StringBuilder();
      for (byte x : md.digest()) {
        b.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
      }
      return b.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new SpireeException("SHA-256 is not available", e);
    }
  }

  private static boolean contains(ByteBuffer haystack, String needle) {
    byte[] n = needle.getBytes(Charset.forName("US-ASCII"));
    ByteBuffer h = haystack.duplicate();
    int limit = h.limit() - n.length;
    outer:
    for (int i = h.position(); i <= limit; i++) {
      for (int j = 0; j < n.length; j++) {
        if (h.get(i + j) != n[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  private static long[][] shapes(List<TensorSpec> specs) {
    long[][] s = new long[specs.size()][];
    for (int i = 0; i < s.length; i++) {
      s[i] = specs.get(i).shape();
    }
    return s;
  }
}
