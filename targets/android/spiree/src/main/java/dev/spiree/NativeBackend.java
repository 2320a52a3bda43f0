package dev.spiree;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/** {@link Backend} over libspiree_jni.so (src/main/cpp/spiree_jni.c, the IREE runtime C API). */
final class NativeBackend implements Backend {
  static final String LIBRARY = "spiree_jni";
  private static final NativeBackend INSTANCE = new NativeBackend();
  private static Throwable loadError;
  private static boolean loaded;

  private NativeBackend() {}

  /** The backend, with libspiree_jni.so loaded; a {@link SpireeException} saying why if it cannot be. */
  static synchronized NativeBackend get() {
    if (!loaded && loadError == null) {
      try {
        System.loadLibrary(LIBRARY);
        loaded = true;
      } catch (UnsatisfiedLinkError e) {
        loadError = e;
      }
    }
    if (!loaded) {
      throw new SpireeException("the native library lib" + LIBRARY + ".so could not be loaded ("
          + loadError.getMessage() + "): spiree runs on arm64-v8a devices only, and the app must "
          + "depend on the spiree module (which builds it with CMake from the IREE source)", loadError);
    }
    return INSTANCE;
  }

  @Override
  public String runtimeVersion() {
    return nativeRuntimeVersion();
  }

  @Override
  public long create(ByteBuffer vmfb, String entry, int threads) {
    return nativeCreate(vmfb, entry, threads);
  }

  @Override
  public void call(long handle, FloatBuffer[] inputs, long[][] inputShapes, FloatBuffer[] outputs,
      long[][] outputShapes) {
    nativeCall(handle, inputs, inputShapes, outputs, outputShapes);
  }

  @Override
  public void destroy(long handle) {
    nativeDestroy(handle);
  }

  private static native String nativeRuntimeVersion();

  private static native long nativeCreate(ByteBuffer vmfb, String entry, int threads);

  private static native void nativeCall(long handle, FloatBuffer[] inputs, long[][] inputShapes,
      FloatBuffer[] outputs, long[][] outputShapes);

  private static native void nativeDestroy(long handle);
}
