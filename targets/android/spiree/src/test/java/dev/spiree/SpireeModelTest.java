package dev.spiree;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The Java API without native code: manifest validation (against the schema's required fields),
 * signature checks on every run, bad bundles, lifecycle. A plain main() (no JUnit offline); exits
 * 1 if any check fails. tests/test_android.py compiles and runs it with javac/java:
 *
 * <pre>java -cp CLASSES dev.spiree.SpireeModelTest model.vmfb model.json model.schema.json</pre>
 */
public final class SpireeModelTest {
  private static int failures;
  private static int checks;

  /** A pure-Java Backend: output[k] = k + sum of all input elements; records what it was given. */
  static final class FakeBackend implements Backend {
    final String version;
    final String format;
    int copiesPerCall; // what call() reports as copied inputs
    int created;
    int destroyed;
    int calls;
    int threads = -1;
    String entry;
    long[][] lastInputShapes;
    float lastFirstInput;

    FakeBackend(String version) {
      this(version, SpireeModel.ANDROID_EXECUTABLE_FORMAT);
    }

    FakeBackend(String version, String format) {
      this.version = version;
      this.format = format;
    }

    @Override
    public String runtimeVersion() {
      return version;
    }

    @Override
    public String executableFormat() {
      return format;
    }

    @Override
    public long address(java.nio.Buffer direct) {
      check(direct.isDirect(), "address() of a direct buffer");
      return 8; // as if every new direct buffer started 8 bytes past a 64-byte boundary
    }

    @Override
    public long create(ByteBuffer vmfb, String entry, int threads) {
      check(vmfb.isDirect(), "backend gets a direct vmfb buffer");
      this.entry = entry;
      this.threads = threads;
      created++;
      return 42;
    }

    @Override
    public int call(long handle, FloatBuffer[] inputs, long[][] inputShapes, FloatBuffer[] outputs,
        long[][] outputShapes) {
      check(handle == 42, "backend gets its handle");
      calls++;
      lastInputShapes = inputShapes;
      double sum = 0;
      for (int i = 0; i < inputs.length; i++) {
        check(inputs[i].isDirect() && inputs[i].position() == 0, "inputs are direct slices at position 0");
        check(inputs[i].remaining() == count(inputShapes[i]), "input holds exactly its shape");
        for (int j = 0; j < inputs[i].remaining(); j++) {
          sum += inputs[i].get(j);
        }
      }
      lastFirstInput = inputs[0].get(0);
      for (int o = 0; o < outputs.length; o++) {
        for (int k = 0; k < count(outputShapes[o]); k++) {
          outputs[o].put(k, (float) (k + sum));
        }
      }
      return copiesPerCall;
    }

    @Override
    public void destroy(long handle) {
      check(handle == 42, "destroy gets the handle");
      destroyed++;
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: SpireeModelTest model.vmfb model.json model.schema.json");
      System.exit(2);
    }
    byte[] vmfb = Files.readAllBytes(new File(args[0]).toPath());
    String json = new String(Files.readAllBytes(new File(args[1]).toPath()), "UTF-8");
    String schema = new String(Files.readAllBytes(new File(args[2]).toPath()), "UTF-8");

    testJson();
    testManifest(json);
    testSchemaRequiredFields(json, schema);
    testLoadAndRun(vmfb, json);
    testBuffers(vmfb, json);
    testBadBundles(vmfb, json);
    testLifecycle(vmfb, json);
    testFiles(args[0], args[1]);
    testRuntimeArch(vmfb, json);
    testAlignedBuffers(vmfb, json);
    testModelStore(vmfb);

    System.out.println("SpireeModelTest: " + checks + " checks, " + failures + " failure(s)");
    System.exit(failures == 0 ? 0 : 1);
  }

  // --- the checks --------------------------------------------------------------------------------

  static void testJson() {
    Object v = Json.parse(" {\"a\": [1, -2.5e1, true, null, \"x\\n\\u00e9\\\"\"], \"b\": {}} ");
    check(v instanceof Map, "json object");
    List<?> a = (List<?>) ((Map<?, ?>) v).get("a");
    check(a.get(0).equals(1L) && a.get(1).equals(-25.0) && a.get(2).equals(true) && a.get(3) == null
        && a.get(4).equals("x\n\u00e9\""), "json values " + a);
    for (String bad : new String[] {"", "{", "{\"a\" 1}", "[1,]", "tru", "{\"a\":1} x", "\"\\q\""}) {
      expectThrows(IllegalArgumentException.class, "invalid JSON", () -> Json.parse(bad));
    }
  }

  static void testManifest(String json) {
    ModelManifest m = ModelManifest.parse(json);
    // One line for tests/test_android.py to compare with the Python manifest.
    System.out.println("signature: @" + m.entry() + " " + m.signature() + " target=" + m.target()
        + " format=" + m.executableFormat() + " compiler=" + m.compilerVersion());
    check(m.inputs().size() >= 1 && m.outputs().size() >= 1, "tensors parsed");
    check(m.vmfbSha256().length() == 64, "sha parsed");
  }

  /** Every field the schema requires: removing it must fail naming it (the Java side mirrors it). */
  @SuppressWarnings("unchecked")
  static void testSchemaRequiredFields(String json, String schemaText) {
    Map<String, Object> schema = (Map<String, Object>) Json.parse(schemaText);
    for (Object field : (List<Object>) schema.get("required")) {
      Map<String, Object> m = (Map<String, Object>) Json.parse(json);
      m.remove(field);
      expectManifestError(toJson(m), "'" + field + "'");
    }
    Map<String, Object> defs = (Map<String, Object>) schema.get("$defs");
    Map<String, Object> tensor = (Map<String, Object>) defs.get("tensor");
    for (String list : new String[] {"inputs", "outputs"}) {
      for (Object field : (List<Object>) tensor.get("required")) {
        Map<String, Object> m = (Map<String, Object>) Json.parse(json);
        ((Map<String, Object>) ((List<Object>) m.get(list)).get(0)).remove(field);
        expectManifestError(toJson(m), list + "[0] is missing the required field '" + field + "'");
      }
    }
    Map<String, Object> props = (Map<String, Object>) schema.get("properties");
    Map<String, Object> versions = (Map<String, Object>) props.get("versions");
    for (Object field : (List<Object>) versions.get("required")) {
      Map<String, Object> m = (Map<String, Object>) Json.parse(json);
      ((Map<String, Object>) m.get("versions")).remove(field);
      expectManifestError(toJson(m), "'" + field + "'");
    }
    // Malformed values the schema rejects.
    expectManifestError(json.replace("spiree-artifact/1", "spiree-artifact/0"), "format");
    expectManifestError(replaceField(json, "entry", "\"not a name\""), "entry");
    expectManifestError(replaceField(json, "vmfb_sha256", "\"abc\""), "vmfb_sha256");
    expectManifestError(replaceField(json, "inputs", "[]"), "inputs must have at least 1");
    expectManifestError(replaceField(json, "outputs",
        "[{\"name\": \"y\", \"shape\": [1, 0], \"dtype\": \"float32\"}]"), "outputs[0].shape[1]");
    expectManifestError(replaceField(json, "outputs",
        "[{\"name\": \"y\", \"shape\": [1, 10], \"dtype\": \"float64\"}]"), "outputs[0].dtype");
    expectManifestError(replaceField(json, "target", "7"), "target must be a string");
    expectManifestError("[1, 2]", "must be a JSON object");
    expectManifestError("{\"format\": ", "not valid JSON");
  }

  static void testLoadAndRun(byte[] vmfb, String json) {
    FakeBackend be = new FakeBackend("3.13.0");
    SpireeModel m = SpireeModel.create(be, ByteBuffer.wrap(vmfb), json, new SpireeModel.Options().threads(2));
    check(be.created == 1 && be.threads == 2 && "main".equals(be.entry), "create(entry=main, threads=2)");
    TensorSpec in = m.inputs().get(0);
    TensorSpec out = m.outputs().get(0);
    float[] x = new float[(int) in.elementCount()];
    Arrays.fill(x, 0.5f);
    float[] y = m.run(x, in.shape());
    check(y.length == out.elementCount(), "output length " + y.length);
    check(y[0] == 0.5f * x.length && y[3] == 3 + 0.5f * x.length, "float[] outputs copied back");
    check(Arrays.equals(be.lastInputShapes[0], in.shape()), "backend gets the manifest's shape");
    float[][] ys = m.run(new float[][] {x}, new long[][] {in.shape()});
    check(ys.length == 1 && ys[0][1] == y[1], "run(float[][], long[][])");

    long[] wrong = in.shape();
    wrong[wrong.length - 1] += 1;
    expectThrows(IllegalArgumentException.class,
        "input '" + in.name() + "' must be " + in.describe() + ", got shape " + Arrays.toString(wrong),
        () -> m.run(x, wrong));
    expectThrows(IllegalArgumentException.class, "must be " + in.describe() + ", got shape [1, 3]",
        () -> m.run(x, 1, 3));
    expectThrows(IllegalArgumentException.class, "the array holds 7 floats",
        () -> m.run(new float[7], in.shape()));
    expectThrows(IllegalArgumentException.class, "takes 1 input(s)",
        () -> m.run(new float[][] {x, x}, new long[][] {in.shape(), in.shape()}));
    expectThrows(IllegalArgumentException.class, "one shape per input",
        () -> m.run(new float[][] {x}, new long[][] {}));
    expectThrows(IllegalArgumentException.class, "is null", () -> m.run(new float[][] {null},
        new long[][] {in.shape()}));
    check(be.calls == 2, "rejected calls never reach the runtime (" + be.calls + ")");
    m.close();
  }

  static void testBuffers(byte[] vmfb, String json) {
    FakeBackend be = new FakeBackend("3.13.0");
    SpireeModel m = SpireeModel.create(be, ByteBuffer.wrap(vmfb), json, new SpireeModel.Options());
    TensorSpec in = m.inputs().get(0);
    TensorSpec out = m.outputs().get(0);
    int n = (int) in.elementCount();
    FloatBuffer x = direct(n + 5);
    x.position(5); // the model must read from the caller's position
    x.put(5, 2.0f);
    FloatBuffer y = direct((int) out.elementCount() + 3);
    y.position(3);
    m.run(new FloatBuffer[] {x}, new FloatBuffer[] {y});
    check(be.lastFirstInput == 2.0f, "input read from its position");
    check(x.position() == 5 && y.position() == 3, "positions unchanged");
    check(y.get(3) == 2.0f && y.get(4) == 3.0f && y.get(0) == 0.0f, "output written at its position");

    m.run(new FloatBuffer[] {x}, new long[][] {in.shape()}, new FloatBuffer[] {y});
    expectThrows(IllegalArgumentException.class, "must be " + in.describe() + ", got shape [2]",
        () -> m.run(new FloatBuffer[] {x}, new long[][] {{2}}, new FloatBuffer[] {y}));
    expectThrows(IllegalArgumentException.class, "must be a direct FloatBuffer",
        () -> m.run(new FloatBuffer[] {FloatBuffer.allocate(n)}, new FloatBuffer[] {y}));
    ByteOrder other = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? ByteOrder.BIG_ENDIAN
        : ByteOrder.LITTLE_ENDIAN;
    FloatBuffer swapped = ByteBuffer.allocateDirect(4 * n).order(other).asFloatBuffer();
    expectThrows(IllegalArgumentException.class, "native byte order",
        () -> m.run(new FloatBuffer[] {swapped}, new FloatBuffer[] {y}));
    expectThrows(IllegalArgumentException.class, "needs " + n + " floats, the buffer has " + (n - 1),
        () -> m.run(new FloatBuffer[] {direct(n - 1)}, new FloatBuffer[] {y}));
    expectThrows(IllegalArgumentException.class, "needs " + out.elementCount() + " floats",
        () -> m.run(new FloatBuffer[] {x}, new FloatBuffer[] {direct(2)}));
    expectThrows(IllegalArgumentException.class, "read-only",
        () -> m.run(new FloatBuffer[] {x}, new FloatBuffer[] {y.asReadOnlyBuffer()}));
    expectThrows(IllegalArgumentException.class, "returns 1 output(s)",
        () -> m.run(new FloatBuffer[] {x}, new FloatBuffer[] {y, y}));
    m.close();
  }

  static void testBadBundles(byte[] vmfb, String json) {
    SpireeModel.Options opts = new SpireeModel.Options();
    // A runtime from another IREE release.
    expectThrows(SpireeException.class, "compiled with IREE 3.13.0 but this app's IREE runtime is 3.12.1",
        () -> SpireeModel.create(new FakeBackend("3.12.1"), ByteBuffer.wrap(vmfb), json, opts));
    SpireeModel ok = SpireeModel.create(new FakeBackend("3.13.0rc20261001"), ByteBuffer.wrap(vmfb), json, opts);
    ok.close();
    // A manifest for another target (host / wasm32).
    String host = json.replace("\"embedded-elf-arm_64\"", "\"embedded-elf-x86_64\"")
        .replace("\"target\": \"arm64\"", "\"target\": \"host\"");
    expectThrows(SpireeException.class, "compiled for target 'host' (embedded-elf-x86_64)",
        () -> SpireeModel.create(new FakeBackend("3.13.0"), ByteBuffer.wrap(vmfb), host, opts));
    // A vmfb without arm64 executables (another target's vmfb with this model.json).
    byte[] notArm = new String(vmfb, java.nio.charset.StandardCharsets.ISO_8859_1)
        .replace("embedded-elf-arm_64", "embedded-elf-x86_64")
        .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    expectThrows(SpireeException.class, "contains no embedded-elf-arm_64 executable",
        () -> SpireeModel.create(new FakeBackend("3.13.0"), ByteBuffer.wrap(notArm), json, opts));
    // A vmfb that is not the one model.json describes.
    byte[] other = vmfb.clone();
    other[other.length - 1] ^= 1;
    expectThrows(SpireeException.class, "model.vmfb does not match model.json",
        () -> SpireeModel.create(new FakeBackend("3.13.0"), ByteBuffer.wrap(other), json, opts));
    SpireeModel unchecked = SpireeModel.create(new FakeBackend("3.13.0"), ByteBuffer.wrap(other), json,
        new SpireeModel.Options().verifyChecksum(false));
    unchecked.close();
    expectThrows(SpireeException.class, "model.vmfb is empty",
        () -> SpireeModel.create(new FakeBackend("3.13.0"), ByteBuffer.allocate(0), json, opts));
    // Non-float32 tensors cannot be passed through the Java API.
    expectThrows(SpireeException.class, "not float32",
        () -> SpireeModel.create(new FakeBackend("3.13.0"), ByteBuffer.wrap(vmfb),
            json.replaceFirst("\"float32\"", "\"int8\""), opts));
    expectThrows(IllegalArgumentException.class, "threads must be", () -> new SpireeModel.Options().threads(-1));
  }

  static void testLifecycle(byte[] vmfb, String json) {
    FakeBackend be = new FakeBackend("3.13.0");
    ByteBuffer direct = ByteBuffer.allocateDirect(vmfb.length + 16);
    direct.position(16);
    direct.put(vmfb);
    direct.position(16); // the bytes used are position..limit
    SpireeModel m = SpireeModel.create(be, direct, json, new SpireeModel.Options());
    check(!m.isClosed() && m.toString().contains("threads=0"), "open: " + m);
    m.close();
    m.close();
    check(be.destroyed == 1, "close() frees the native session exactly once");
    check(m.isClosed(), "closed");
    float[] x = new float[(int) m.inputs().get(0).elementCount()];
    expectThrows(IllegalStateException.class, "is closed", () -> m.run(x, m.inputs().get(0).shape()));
    try (SpireeModel m2 = SpireeModel.create(be, ByteBuffer.wrap(vmfb), json, new SpireeModel.Options())) {
      check(m2.threads() == 0, "try-with-resources");
    }
    check(be.destroyed == 2, "AutoCloseable closes");
  }

  static void testFiles(String vmfbPath, String jsonPath) throws Exception {
    expectThrows(SpireeException.class, "does not exist",
        () -> SpireeModel.fromFile(vmfbPath + ".missing.vmfb"));
    File dir = Files.createTempDirectory("spiree-test").toFile();
    File lonely = new File(dir, "model.vmfb");
    Files.copy(new File(vmfbPath).toPath(), lonely.toPath());
    expectThrows(SpireeException.class, "model.json is missing next to model.vmfb",
        () -> SpireeModel.fromFile(lonely.getPath()));
    check(SpireeModel.manifestFile(lonely).getName().equals("model.json"), "model.vmfb -> model.json");
    // On a JDK there is no libspiree_jni.so: loading says so instead of an UnsatisfiedLinkError.
    Files.copy(new File(jsonPath).toPath(), new File(dir, "model.json").toPath());
    expectThrows(SpireeException.class, "libspiree_jni.so could not be loaded",
        () -> SpireeModel.fromFile(lonely.getPath()));
    new File(dir, "model.json").delete();
    lonely.delete();
    dir.delete();
  }

  /** The executable format the native library reports decides which vmfbs load. */
  static void testRuntimeArch(byte[] vmfb, String json) {
    SpireeModel.Options opts = new SpireeModel.Options();
    // An arm64 bundle on a desktop (x86-64) build of the library.
    expectThrows(SpireeException.class, "compiled for target 'arm64' (embedded-elf-arm_64), which this "
        + "runtime (embedded-elf-x86_64) cannot load: compile it for this machine with "
        + "`spiree compile MODEL --target host`",
        () -> SpireeModel.create(new FakeBackend("3.13.0", "embedded-elf-x86_64"), ByteBuffer.wrap(vmfb),
            json, opts));
    // A host (x86-64) vmfb and manifest on the arm64 library.
    byte[] hostVmfb = new String(vmfb, java.nio.charset.StandardCharsets.ISO_8859_1)
        .replace("embedded-elf-arm_64", "embedded-elf-x86_64")
        .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    String host = json.replace("\"embedded-elf-arm_64\"", "\"embedded-elf-x86_64\"")
        .replace("\"target\": \"arm64\"", "\"target\": \"host\"");
    expectThrows(SpireeException.class, "compiled for target 'host' (embedded-elf-x86_64), which the arm64 "
        + "runtime (Android arm64-v8a, embedded-elf-arm_64) cannot load: compile it with `spiree android MODEL`",
        () -> SpireeModel.create(new FakeBackend("3.13.0"), ByteBuffer.wrap(hostVmfb), host, opts));
    // ... and both on the x86-64 library: the manifest and the vmfb's executables agree.
    SpireeModel m = SpireeModel.create(new FakeBackend("3.13.0", "embedded-elf-x86_64"),
        ByteBuffer.wrap(hostVmfb), host, opts.verifyChecksum(false));
    check(m.manifest().target().equals("host"), "a host vmfb loads on an x86-64 runtime");
    m.close();
    // A manifest that says x86-64 over a vmfb without x86-64 executables.
    expectThrows(SpireeException.class, "contains no embedded-elf-x86_64 executable, so it was not compiled "
        + "for this runtime (embedded-elf-x86_64)",
        () -> SpireeModel.create(new FakeBackend("3.13.0", "embedded-elf-x86_64"), ByteBuffer.wrap(vmfb),
            host, new SpireeModel.Options().verifyChecksum(false)));
  }

  static void testAlignedBuffers(byte[] vmfb, String json) {
    FakeBackend be = new FakeBackend("3.13.0");
    SpireeModel m = SpireeModel.create(be, ByteBuffer.wrap(vmfb), json, new SpireeModel.Options());
    TensorSpec in = m.inputs().get(0);
    TensorSpec out = m.outputs().get(0);
    FloatBuffer x = m.newInputBuffer(0);
    FloatBuffer y = m.newOutputBuffer(0);
    check(x.isDirect() && x.order() == ByteOrder.nativeOrder() && x.remaining() == in.elementCount()
        && x.position() == 0, "newInputBuffer: direct, native order, exactly the input's elements");
    check(y.isDirect() && y.remaining() == out.elementCount(), "newOutputBuffer: the output's elements");
    // The fake places new direct buffers 8 bytes past a 64-byte boundary: the aligned buffer starts
    // 56 bytes into its allocation, which the backend's address() reports relative to.
    ByteBuffer raw = SpireeModel.alignedDirect(be, 100);
    check(raw.capacity() == 100 && raw.remaining() == 100, "alignedDirect has the requested size");
    m.run(new FloatBuffer[] {x}, new FloatBuffer[] {y});
    check(m.copiedInputs() == 0, "no copies reported");
    be.copiesPerCall = 1;
    m.run(new FloatBuffer[] {x}, new FloatBuffer[] {y});
    m.run(new float[(int) in.elementCount()], in.shape());
    check(m.copiedInputs() == 2, "copiedInputs adds what the runtime reports (" + m.copiedInputs() + ")");
    m.close();
  }

  /** Extracted models: a directory per asset folder, each model copied once. */
  static void testModelStore(final byte[] vmfb) throws Exception {
    File root = Files.createTempDirectory("spiree-store").toFile();
    final int[] opened = {0};
    ModelStore.Source source = new ModelStore.Source() {
      @Override
      public java.io.InputStream open() {
        opened[0]++;
        return new java.io.ByteArrayInputStream(vmfb);
      }
    };
    String zeros = new String(new char[60]).replace('\0', '0');
    String a = "aaaa" + zeros; // stand-ins for the SHA-256 in model.json
    String b = "bbbb" + zeros;
    File fa = ModelStore.extract(root, "models/a", a, source, "asset a");
    File fb = ModelStore.extract(root, "models/b", b, source, "asset b");
    check(opened[0] == 2 && fa.isFile() && fb.isFile() && !fa.getParentFile().equals(fb.getParentFile()),
        "two asset folders, two directories");
    ModelStore.extract(root, "models/a", a, source, "asset a");
    ModelStore.extract(root, "models/b", b, source, "asset b");
    ModelStore.extract(root, "models/a", a, source, "asset a");
    check(opened[0] == 2, "loading A, B, A again extracts nothing (" + opened[0] + " copies)");
    check(Arrays.equals(Files.readAllBytes(fa.toPath()), vmfb), "the extracted bytes are the asset's");
    check(!ModelStore.directory(root, "a/b").equals(ModelStore.directory(root, "a_b")),
        "folder names that look alike after escaping still differ");
    // A new model in folder a replaces a's old file only.
    String a2 = "cccc" + zeros;
    File fa2 = ModelStore.extract(root, "models/a", a2, source, "asset a");
    check(fa2.isFile() && !fa.exists() && fb.isFile(), "a new model replaces its own folder's file only");
    expectThrows(SpireeException.class, "asset z is missing",
        () -> ModelStore.extract(root, "z", a, new ModelStore.Source() {
          @Override
          public java.io.InputStream open() throws java.io.IOException {
            throw new java.io.FileNotFoundException("z/model.vmfb");
          }
        }, "asset z"));
    check(!new File(ModelStore.directory(root, "z"), a + ".vmfb.tmp").exists(), "no partial file left");
    for (File d : new File(root, "spiree").listFiles()) {
      for (File f : d.listFiles()) {
        f.delete();
      }
      d.delete();
    }
    new File(root, "spiree").delete();
    root.delete();
  }

  // --- helpers -----------------------------------------------------------------------------------

  interface Body {
    void run() throws Exception;
  }

  static void check(boolean ok, String what) {
    checks++;
    if (!ok) {
      failures++;
      System.out.println("FAIL: " + what);
    }
  }

  static void expectThrows(Class<? extends Throwable> type, String messagePart, Body body) {
    checks++;
    try {
      body.run();
      failures++;
      System.out.println("FAIL: expected " + type.getSimpleName() + " containing \"" + messagePart
          + "\", nothing was thrown");
    } catch (Throwable t) {
      if (!type.isInstance(t) || t.getMessage() == null || !t.getMessage().contains(messagePart)) {
        failures++;
        System.out.println("FAIL: expected " + type.getSimpleName() + " containing \"" + messagePart
            + "\", got " + t);
      }
    }
  }

  static void expectManifestError(String json, String messagePart) {
    expectThrows(SpireeException.class, messagePart, () -> ModelManifest.parse(json));
  }

  static FloatBuffer direct(int n) {
    return ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  @SuppressWarnings("unchecked")
  static String replaceField(String json, String key, String valueJson) {
    Map<String, Object> m = (Map<String, Object>) Json.parse(json);
    m.put(key, Json.parse(valueJson));
    return toJson(m);
  }

  static String toJson(Object v) {
    if (v == null) {
      return "null";
    }
    if (v instanceof String) {
      return "\"" + ((String) v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }
    if (v instanceof Map) {
      List<String> parts = new ArrayList<String>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        parts.add(toJson(e.getKey()) + ": " + toJson(e.getValue()));
      }
      return "{" + String.join(", ", parts) + "}";
    }
    if (v instanceof List) {
      List<String> parts = new ArrayList<String>();
      for (Object o : (List<?>) v) {
        parts.add(toJson(o));
      }
      return "[" + String.join(", ", parts) + "]";
    }
    return String.valueOf(v);
  }
}
