package dev.spiree;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.Charset;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Where models bundled in an app's assets are extracted to, so that they can be memory-mapped:
 * {@code <root>/spiree/<asset folder>/<SHA-256 of the vmfb>.vmfb}. Each asset folder has its own
 * directory: an app with several models (one asset folder each) extracts each one once, and a new
 * model in a folder replaces only that folder's old file. Plain JDK code, used by {@code
 * dev.spiree.android.SpireeAndroid} with the app's no-backup files directory as the root.
 */
public final class ModelStore {
  /** Opens the bundled vmfb (for example an Android asset). */
  public interface Source {
    InputStream open() throws IOException;
  }

  private ModelStore() {}

  /** The directory for {@code assetDir}: its name made file-safe plus a hash (no collisions). */
  public static File directory(File root, String assetDir) {
    String safe = assetDir.replaceAll("[^A-Za-z0-9._-]", "_");
    return new File(new File(root, "spiree"), safe + "-" + hex(assetDir).substring(0, 8));
  }

  /** The extracted file for the vmfb whose SHA-256 (from model.json) is {@code vmfbSha256}. */
  public static File file(File root, String assetDir, String vmfbSha256) {
    return new File(directory(root, assetDir), vmfbSha256 + ".vmfb");
  }

  /**
   * The extracted file of {@code assetDir}'s model, copying it from {@code source} only if it is
   * not there yet (other .vmfb files in the same directory, older models of this asset folder,
   * are removed then). {@code what} names the source in error messages.
   */
  public static File extract(File root, String assetDir, String vmfbSha256, Source source, String what) {
    File dest = file(root, assetDir, vmfbSha256);
    if (dest.isFile()) {
      return dest;
    }
    File dir = dest.getParentFile();
    if (!dir.isDirectory() && !dir.mkdirs()) {
      throw new SpireeException("cannot create " + dir);
    }
    File[] old = dir.listFiles();
    if (old != null) {
      for (File f : old) {
        if (f.getName().endsWith(".vmfb")) {
          f.delete();
        }
      }
    }
    File tmp = new File(dir, dest.getName() + ".tmp");
    try (InputStream in = source.open(); OutputStream out = new FileOutputStream(tmp)) {
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        out.write(buf, 0, n);
      }
    } catch (FileNotFoundException e) {
      tmp.delete();
      throw new SpireeException(what + " is missing: " + e.getMessage(), e);
    } catch (IOException e) {
      tmp.delete();
      throw new SpireeException("cannot copy " + what + " to " + tmp + ": " + e.getMessage(), e);
    }
    if (!tmp.renameTo(dest)) {
      tmp.delete();
      throw new SpireeException("cannot rename " + tmp + " to " + dest);
    }
    return dest;
  }

  private static String hex(String s) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      StringBuilder b = new StringBuilder();
      for (byte x : md.digest(s.getBytes(Charset.forName("UTF-8")))) {
        b.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
      }
      return b.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new SpireeException("SHA-256 is not available", e);
    }
  }
}
