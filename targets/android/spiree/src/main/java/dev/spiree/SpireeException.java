package dev.spiree;

/**
 * A model that cannot be loaded or run: a bad or mismatched bundle (model.json / model.vmfb), a
 * missing asset, an IREE runtime of another version, or an error status from the IREE runtime
 * (whose message is included verbatim). Unchecked, so Kotlin callers are not forced to catch it.
 */
public class SpireeException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public SpireeException(String message) {
    super(message);
  }

  public SpireeException(String message, Throwable cause) {
    super(message, cause);
  }
}
