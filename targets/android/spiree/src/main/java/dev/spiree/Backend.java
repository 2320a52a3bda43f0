package dev.spiree;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/**
 * What {@link SpireeModel} needs from the IREE runtime. {@link NativeBackend} implements it over
 * the JNI bridge (spiree_jni.c); tests substitute a pure-Java fake, so everything above this line
 * (manifest validation, signature checks, lifecycle) runs on a plain JDK.
 */
interface Backend {
  /** The IREE release the runtime was built from, for example {@code 3.13.0}. */
  String runtimeVersion();

  /**
   * Creates a session on local-sync ({@code threads == 1}) or local-task and appends the bytecode
   * module in {@code vmfb} (a direct buffer that stays alive and unmodified until {@link
   * #destroy}) without copying it; resolves {@code entry}. Returns an opaque handle.
   */
  long create(ByteBuffer vmfb, String entry, int threads);

  /**
   * Calls the entry function. Every buffer is direct, native-order, positioned at its first
   * element and holds at least the product of its shape; outputs are overwritten.
   */
  void call(long handle, FloatBuffer[] inputs, long[][] inputShapes, FloatBuffer[] outputs,
      long[][] outputShapes);

  /** Releases the session and everything it holds. Called exactly once per handle. */
  void destroy(long handle);
}
