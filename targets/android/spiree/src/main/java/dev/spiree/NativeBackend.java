package dev.spiree;

import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/**
 * {@link Backend} over libspiree_jni.so (src/main/cpp/spiree_jni.c, the IREE runtime C API).
 * In an Android app the library is the module's arm64-v8a build; on a desktop JVM it is a build of
 * the same CMake file for the desktop's arch, found on {@code java.library.path}.
 */
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
          + loadError.getMessage() + "): in an Android app, depend on the spiree module (it builds "
          + "the library for arm64-v8a with CMake from the IREE source); on a desktop JVM, build "
          + "src/main/cpp/CMakeLists.txt for this machine and pass -Djava.library.path=<its build "
          + "directory>", loadError);
    }
    return INSTANCE;
  }

  @Override
  public String runtimeVersion() {
    return nativeRuntimeVersion();
  }

  @Override
  public String executableFormat() {
    return nativeExecutableFormat();
  }

  @Override
  public long address(Buffer direct) {
    return nativeAddress(direct);
  }

  @Override
  public long create(ByteBuffer vmfb, String entry, int threads) {
    return nativeCreate(vmfb, entry, threads);
  }

  @Override
  public int call(long handle, FloatBuffer[] inputs, long[][] inputShapes, FloatBuffer[] outputs,
      long[][] outputShapes) {
    return nativeCall(handle, inputs, inputShapes, outputs, outputShapes);
  }

  @Override
  public void destroy(long handle) {
    nativeDestroy(handle);
  }

  private static native String nativeRuntimeVersion();

  private static native String nativeExecutableFormat();

  private static native long nativeAddress(Buffer direct);

  private static native long nativeCreate(ByteBuffer vmfb, String entry, int threads);

  private static native int nativeCall(long handle, FloatBuffer[] inputs, long[][] inputShapes,
      FloatBuffer[] outputs, long[][] outputShapes);

  private static native void nativeDestroy(long handle);
}
