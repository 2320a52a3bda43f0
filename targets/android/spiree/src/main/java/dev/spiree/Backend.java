package dev.spiree;

import java.nio.Buffer;
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
   * The executable format the runtime's loader runs: that of the arch the native library was
   * built for ({@code embedded-elf-arm_64} in an Android app, {@code embedded-elf-x86_64} on an
   * x86-64 desktop JVM).
   */
  String executableFormat();

  /** The address of a direct buffer's first byte (to align buffers to 64 bytes). */
  long address(Buffer direct);

  /**
   * Creates a session on local-sync ({@code threads == 1}) or local-task and appends the bytecode
   * module in {@code vmfb} (a direct buffer that stays alive and unmodified until {@link
   * #destroy}) without copying it if it is 64-byte aligned; resolves {@code entry}. Returns an
   * opaque handle.
   */
  long create(ByteBuffer vmfb, String entry, int threads);

  /**
   * Calls the entry function. Every buffer is direct, native-order, positioned at its first
   * element and holds at least the product of its shape; outputs are overwritten. Returns how
   * many inputs had to be copied (not 64-byte aligned) instead of being used in place.
   */
  int call(long handle, FloatBuffer[] inputs, long[][] inputShapes, FloatBuffer[] outputs,
      long[][] outputShapes);

  /** Releases the session and everything it holds. Called exactly once per handle. */
  void destroy(long handle);
}
