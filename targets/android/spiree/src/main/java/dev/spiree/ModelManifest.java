package dev.spiree;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * model.json, the manifest spiree writes beside every .vmfb, validated on load.
 *
 * <p>The checks mirror the required part of {@code targets/android/model.schema.json} (the Python
 * side validates against that file; a test runs both on the same bad inputs): format, entry,
 * inputs/outputs (name, shape, dtype), target, executable_format, versions.iree-base-compiler and
 * vmfb_sha256. Other fields are kept as informational text ({@link #modelName()}).
 */
public final class ModelManifest {
  static final String FORMAT = "spiree-artifact/1";
  private static final Pattern ENTRY = Pattern.compile("^[A-Za-z_][A-Za-z0-9_]*$");
  private static final Pattern VERSION = Pattern.compile("^[0-9]+\\.[0-9]+\\.[0-9]+");
  private static final Pattern SHA256 = Pattern.compile("^[0-9a-f]{64}$");
  private static final List<String> DTYPES =
      Arrays.asList("float32", "float16", "int8", "uint8", "int32", "int64", "bool");

  private final String entry;
  private final List<TensorSpec> inputs;
  private final List<TensorSpec> outputs;
  private final String target;
  private final String executableFormat;
  private final String compilerVersion;
  private final String vmfbSha256;
  private final String modelName;

  private ModelManifest(Map<String, Object> m) {
    Object format = m.get("format");
    require(m, "format", "model.json");
    if (!FORMAT.equals(format)) {
      throw invalid("model.json.format must be '" + FORMAT + "', got " + quote(format));
    }
    entry = string(m, "entry", "model.json");
    if (!ENTRY.matcher(entry).find()) {
      throw invalid("model.json.entry '" + entry + "' is not a function name");
    }
    inputs = tensors(m, "inputs");
    outputs = tensors(m, "outputs");
    target = nonEmpty(m, "target", "model.json");
    executableFormat = nonEmpty(m, "executable_format", "model.json");
    Map<String, Object> versions = object(m, "versions", "model.json");
    compilerVersion = string(versions, "iree-base-compiler", "model.json.versions");
    if (!VERSION.matcher(compilerVersion).find()) {
      throw invalid("model.json.versions.iree-base-compiler '" + compilerVersion + "' is not a version");
    }
    vmfbSha256 = string(m, "vmfb_sha256", "model.json");
    if (!SHA256.matcher(vmfbSha256).find()) {
      throw invalid("model.json.vmfb_sha256 must be 64 lowercase hex digits");
    }
    Object model = m.get("model");
    String name = "model";
    if (model instanceof Map) {
      Object source = ((Map<?, ?>) model).get("source");
      if (source instanceof String) {
        name = (String) source;
      }
    }
    modelName = name;
  }

  /**
   * Parses and validates model.json text.
   *
   * @throws SpireeException naming the first missing or malformed field
   */
  public static ModelManifest parse(String json) {
    Object root;
    try {
      root = Json.parse(json);
    } catch (IllegalArgumentException e) {
      throw new SpireeException("model.json is not valid JSON (" + e.getMessage() + "): "
          + "write it again with `spiree android`", e);
    }
    if (!(root instanceof Map)) {
      throw invalid("model.json must be a JSON object");
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> m = (Map<String, Object>) root;
    return new ModelManifest(m);
  }

  /** The entry function's name in the module (for example {@code main}). */
  public String entry() {
    return entry;
  }

  public List<TensorSpec> inputs() {
    return inputs;
  }

  public List<TensorSpec> outputs() {
    return outputs;
  }

  /** spiree's target name ({@code arm64}, {@code host}, ...). */
  public String target() {
    return target;
  }

  /** IREE's executable format ({@code embedded-elf-arm_64} for Android arm64-v8a). */
  public String executableFormat() {
    return executableFormat;
  }

  /** The iree-base-compiler version that produced the vmfb. */
  public String compilerVersion() {
    return compilerVersion;
  }

  public String vmfbSha256() {
    return vmfbSha256;
  }

  /** The model's registry name or source, for messages. */
  public String modelName() {
    return modelName;
  }

  /** The signature, for example {@code (input0: float32[1, 3, 32, 32]) -> (output0: float32[1, 10])}. */
  public String signature() {
    return "(" + join(inputs) + ") -> (" + join(outputs) + ")";
  }

  private static String join(List<TensorSpec> specs) {
    StringBuilder b = new StringBuilder();
    for (TensorSpec s : specs) {
      if (b.length() > 0) {
        b.append(", ");
      }
      b.append(s);
    }
    return b.toString();
  }

  private static List<TensorSpec> tensors(Map<String, Object> m, String key) {
    require(m, key, "model.json");
    Object v = m.get(key);
    if (!(v instanceof List)) {
      throw invalid("model.json." + key + " must be an array");
    }
    List<?> list = (List<?>) v;
    if (list.isEmpty()) {
      throw invalid("model.json." + key + " must have at least 1 item(s)");
    }
    List<TensorSpec> out = new ArrayList<TensorSpec>();
    for (int i = 0; i < list.size(); i++) {
      String where = "model.json." + key + "[" + i + "]";
      if (!(list.get(i) instanceof Map)) {
        throw invalid(where + " must be an object");
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> t = (Map<String, Object>) list.get(i);
      String name = nonEmpty(t, "name", where);
      require(t, "shape", where);
      if (!(t.get("shape") instanceof List)) {
        throw invalid(where + ".shape must be an array");
      }
      List<?> dims = (List<?>) t.get("shape");
      long[] shape = new long[dims.size()];
      for (int d = 0; d < shape.length; d++) {
        Object dim = dims.get(d);
        if (!(dim instanceof Long) || (Long) dim < 1) {
          throw invalid(where + ".shape[" + d + "] must be an integer >= 1, got " + quote(dim));
        }
        shape[d] = (Long) dim;
      }
      require(t, "dtype", where);
      Object dtype = t.get("dtype");
      if (!DTYPES.contains(dtype)) {
        throw invalid(where + ".dtype must be one of " + DTYPES + ", got " + quote(dtype));
      }
      out.add(new TensorSpec(name, shape, (String) dtype));
    }
    return Collections.unmodifiableList(out);
  }

  private static void require(Map<String, Object> m, String key, String where) {
    if (!m.containsKey(key)) {
      throw invalid(where + " is missing the required field '" + key + "'");
    }
  }

  private static String string(Map<String, Object> m, String key, String where) {
    require(m, key, where);
    Object v = m.get(key);
    if (!(v instanceof String)) {
      throw invalid(where + "." + key + " must be a string, got " + quote(v));
    }
    return (String) v;
  }

  private static String nonEmpty(Map<String, Object> m, String key, String where) {
    String v = string(m, key, where);
    if (v.isEmpty()) {
      throw invalid(where + "." + key + " must not be empty");
    }
    return v;
  }

  private static Map<String, Object> object(Map<String, Object> m, String key, String where) {
    require(m, key, where);
    Object v = m.get(key);
    if (!(v instanceof Map)) {
      throw invalid(where + "." + key + " must be an object");
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> r = (Map<String, Object>) v;
    return r;
  }

  private static String quote(Object v) {
    return v instanceof String ? "'" + v + "'" : String.valueOf(v);
  }

  private static SpireeException invalid(String what) {
    return new SpireeException(what + ": the manifest does not match model.schema.json; "
        + "write the bundle again with `spiree android`");
  }
}
