package dev.spiree.runtime;

import dev.spiree.SpireeModel;
import dev.spiree.TensorSpec;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.util.Arrays;

/**
 * Drives the public Java API (package dev.spiree, nothing package-private) over the real native
 * library, libspiree_jni.so built from an IREE source tree, on a desktop JVM. Run by
 * scripts/verify_android_runtime.py, which prepares DIR and compares the output with `spiree run`:
 *
 * <pre>java -Djava.library.path=BUILD -cp CLASSES dev.spiree.runtime.RuntimeCheck DIR</pre>
 *
 * DIR holds model.vmfb + model.json (a host vmfb), input.bin (the input, raw native-order
 * float32); this writes output.bin. Every API path (fromFile, fromBuffer heap/direct/misaligned,
 * run(float[]), run(FloatBuffer[]) at every float offset, threads 0/1/2) must give bit-identical
 * outputs. DIR/errors/NAME/ each hold model.vmfb, model.json and expect.txt (line 1: exception
 * class, line 2: a part of its message, line 3: "unchecked" to skip the SHA-256 check): loading and
 * running that bundle must throw exactly that. Prints one line per check group and
 * "RuntimeCheck: N checks, F failure(s)"; exits 1 if any check failed.
 */
public final class RuntimeCheck {
  private static int checks;
  private static int failures;

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: RuntimeCheck DIR");
      System.exit(2);
    }
    File dir = new File(args[0]);
    File vmfb = new File(dir, "model.vmfb");
    byte[] bytes = Files.readAllBytes(vmfb.toPath());
    float[] x = readFloats(new File(dir, "input.bin"));

    float[] y;
    try (SpireeModel m = SpireeModel.fromFile(vmfb.getPath())) {
      TensorSpec in = m.inputs().get(0);
      check(x.length == in.elementCount(), "input.bin holds " + in.describe());
      y = m.run(x, in.shape());
      writeFloats(new File(dir, "output.bin"), y);
      System.out.println("fromFile: " + m + ", " + y.length + " outputs");
    }
    String json = new String(Files.readAllBytes(new File(dir, "model.json").toPath()), "UTF-8");

    // The same result through every way in.
    for (int threads : new int[] {1, 2, 0}) {
      try (SpireeModel m = SpireeModel.fromFile(vmfb, new SpireeModel.Options().threads(threads))) {
        same(y, m.run(x, m.inputs().get(0).shape()), "threads(" + threads + ")");
      }
    }
    ByteBuffer direct = ByteBuffer.allocateDirect(bytes.length);
    direct.put(bytes).flip();
    ByteBuffer misaligned = ByteBuffer.allocateDirect(bytes.length + 1);
    misaligned.position(1);
    misaligned.put(bytes).position(1);
    ByteBuffer[] buffers = {ByteBuffer.wrap(bytes), direct, misaligned};
    String[] names = {"fromBuffer(heap)", "fromBuffer(direct)", "fromBuffer(direct, misaligned)"};
    for (int i = 0; i < buffers.length; i++) {
      try (SpireeModel m = SpireeModel.fromBuffer(buffers[i], json, new SpireeModel.Options())) {
        same(y, m.run(x, m.inputs().get(0).shape()), names[i]);
      }
    }
    System.out.println("threads 1/2/0, fromBuffer heap/direct/misaligned: bit-identical");

    checkBuffers(vmfb, x, y);
    checkErrors(vmfb, x, new File(dir, "errors"));
    checkNoLeak(json, bytes, x);

    System.out.println("RuntimeCheck: " + checks + " checks, " + failures + " failure(s)");
    System.exit(failures == 0 ? 0 : 1);
  }

  /** run(FloatBuffer[]): in place when aligned, one copy per call otherwise, same numbers. */
  static void checkBuffers(File vmfb, float[] x, float[] y) {
    try (SpireeModel m = SpireeModel.fromFile(vmfb, new SpireeModel.Options().threads(1))) {
      FloatBuffer in = m.newInputBuffer(0);
      FloatBuffer out = m.newOutputBuffer(0);
      in.put(x).flip();
      m.run(new FloatBuffer[] {in}, new FloatBuffer[] {out});
      same(y, toArray(out, 0, y.length), "run(newInputBuffer)");
      m.run(x, m.inputs().get(0).shape());
      check(m.copiedInputs() == 0, "aligned inputs and the float[] API are used in place (copies: "
          + m.copiedInputs() + ")");

      // A plain direct buffer at each of 16 float offsets: exactly one of them is 64-byte aligned.
      FloatBuffer big = ByteBuffer.allocateDirect(4 * (x.length + 16)).order(ByteOrder.nativeOrder())
          .asFloatBuffer();
      FloatBuffer wide = ByteBuffer.allocateDirect(4 * (y.length + 3)).order(ByteOrder.nativeOrder())
          .asFloatBuffer();
      for (int offset = 0; offset < 16; offset++) {
        big.clear();
        big.position(offset);
        big.put(x);
        big.position(offset);
        big.limit(offset + x.length);
        wide.clear();
        wide.position(3); // outputs are written at their position
        m.run(new FloatBuffer[] {big}, new FloatBuffer[] {wide});
        same(y, toArray(wide, 3, y.length), "run(FloatBuffer[]) at float offset " + offset);
        check(wide.position() == 3 && wide.get(0) == 0f, "output position unchanged, nothing before it");
      }
      check(m.copiedInputs() == 15, "inputs at 16 float offsets: 15 copied, 1 used in place (copied: "
          + m.copiedInputs() + ")");
      System.out.println("run(FloatBuffer[]): bit-identical at 16 offsets; copies " + m.copiedInputs()
          + "/16 (only the 64-byte-aligned one in place)");
    }
  }

  /** Every DIR/errors/NAME bundle fails with the expected exception and message part. */
  static void checkErrors(File vmfb, float[] x, File errors) throws IOException {
    // The API's own checks, on the good model.
    final SpireeModel m = SpireeModel.fromFile(vmfb.getPath());
    TensorSpec in = m.inputs().get(0);
    long[] wrong = in.shape();
    wrong[wrong.length - 1] += 1;
    expect(IllegalArgumentException.class, "input '" + in.name() + "' must be " + in.describe()
        + ", got shape " + Arrays.toString(wrong), () -> m.run(x, wrong));
    expect(IllegalArgumentException.class, "must be a direct FloatBuffer",
        () -> m.run(new FloatBuffer[] {FloatBuffer.wrap(x)}, new FloatBuffer[] {m.newOutputBuffer(0)}));
    m.close();
    expect(IllegalStateException.class, "is closed", () -> m.run(x, in.shape()));
    File[] cases = errors.listFiles();
    Arrays.sort(cases);
    for (File c : cases) {
      String[] expect = readLines(new File(c, "expect.txt"));
      SpireeModel.Options options = new SpireeModel.Options().verifyChecksum(
          !(expect.length > 2 && expect[2].equals("unchecked")));
      Class<?> type;
      try {
        type = Class.forName(expect[0]);
      } catch (ClassNotFoundException e) {
        throw new IllegalArgumentException(c + ": unknown exception class " + expect[0]);
      }
      File caseVmfb = new File(c, "model.vmfb");
      Throwable thrown = null;
      try (SpireeModel bad = SpireeModel.fromFile(caseVmfb, options)) {
        TensorSpec spec = bad.inputs().get(0);
        bad.run(new float[][] {new float[(int) spec.elementCount()]}, new long[][] {spec.shape()});
      } catch (Throwable t) {
        thrown = t;
      }
      boolean ok = thrown != null && type.isInstance(thrown) && thrown.getMessage() != null
          && thrown.getMessage().contains(expect[1]);
      check(ok, c.getName() + ": expected " + expect[0] + " containing \"" + expect[1] + "\", got " + thrown);
      if (ok) {
        System.out.println("error " + c.getName() + ": " + thrown.getClass().getSimpleName() + ": "
            + thrown.getMessage());
      }
    }
  }

  /**
   * Create/run/close cycles, each copying a misaligned vmfb: the process must not keep growing.
   * Resident memory after a warm-up, after N more cycles and after N more again (each after a GC,
   * which frees the direct buffers the Java side let go): a leak grows both windows alike, the
   * JVM's own growth settles in the first. Run with a fixed, pre-touched heap (-Xms = -Xmx,
   * -XX:+AlwaysPreTouch) so that heap growth does not show up as resident memory.
   */
  static void checkNoLeak(String json, byte[] bytes, float[] x) throws IOException, InterruptedException {
    ByteBuffer misaligned = ByteBuffer.allocateDirect(bytes.length + 1);
    misaligned.position(1);
    misaligned.put(bytes).position(1);
    int cycles = 1000;
    long[] rss = new long[3];
    cycle(json, misaligned, x, 500);
    for (int window = 0; window < 3; window++) {
      if (window > 0) {
        cycle(json, misaligned, x, cycles);
      }
      for (int i = 0; i < 3; i++) { // the direct buffers' memory is freed after a GC finds them
        System.gc();
        Thread.sleep(100);
      }
      rss[window] = rssKb();
    }
    long second = rss[2] - rss[1];
    // A leaked vmfb copy alone would be cycles * vmfb size per window.
    long leakKb = (long) cycles * bytes.length / 1024;
    check(second < leakKb / 8, "resident memory grew " + second + " KiB over the second " + cycles
        + " create/run/close cycles (a leaked vmfb copy alone would be " + leakKb + " KiB)");
    System.out.println(String.format("leak check: 2 x %d create/run/close cycles, resident memory %+d KiB, "
        + "then %+d KiB (a leaked vmfb copy: +%d KiB each)", cycles, rss[1] - rss[0], second, leakKb));
  }

  private static void cycle(String json, ByteBuffer vmfb, float[] x, int n) {
    for (int i = 0; i < n; i++) {
      try (SpireeModel m = SpireeModel.fromBuffer(vmfb.duplicate(), json,
          new SpireeModel.Options().threads(1).verifyChecksum(false))) {
        m.run(x, m.inputs().get(0).shape());
      }
    }
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

  static void same(float[] want, float[] have, String what) {
    check(Arrays.equals(want, have), what + ": output differs from fromFile's");
  }

  static void expect(Class<? extends Throwable> type, String part, Body body) {
    Throwable thrown = null;
    try {
      body.run();
    } catch (Throwable t) {
      thrown = t;
    }
    check(thrown != null && type.isInstance(thrown) && thrown.getMessage() != null
        && thrown.getMessage().contains(part),
        "expected " + type.getSimpleName() + " containing \"" + part + "\", got " + thrown);
    if (thrown != null && type.isInstance(thrown)) {
      System.out.println("error (API): " + thrown.getClass().getSimpleName() + ": " + thrown.getMessage());
    }
  }

  static float[] toArray(FloatBuffer b, int from, int n) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = b.get(from + i);
    }
    return a;
  }

  static float[] readFloats(File f) throws IOException {
    byte[] raw = Files.readAllBytes(f.toPath());
    float[] a = new float[raw.length / 4];
    ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(a);
    return a;
  }

  static void writeFloats(File f, float[] a) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(4 * a.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(a);
    Files.write(f.toPath(), b.array());
  }

  static String[] readLines(File f) throws IOException {
    try (BufferedReader r = new BufferedReader(new FileReader(f))) {
      return r.lines().toArray(String[]::new);
    }
  }

  static long rssKb() throws IOException {
    for (String line : Files.readAllLines(new File("/proc/self/status").toPath())) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IOException("no VmRSS in /proc/self/status");
  }
}
