package dev.spiree.android;

import android.content.Context;
import android.content.res.AssetManager;
import dev.spiree.ModelManifest;
import dev.spiree.SpireeException;
import dev.spiree.SpireeModel;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Loads the model that {@code spiree android} put into the app's assets (the only class of the
 * library that needs the Android SDK).
 *
 * <p>The first load copies {@code <assetDir>/model.vmfb} into the app's no-backup files directory,
 * named by its SHA-256 from model.json; later loads memory-map that file, so the runtime reads the
 * model in place without holding it on the Java heap, whatever the asset's compression.
 */
public final class SpireeAndroid {
  /** Where {@code spiree android} writes the bundle inside src/main/assets. */
  public static final String DEFAULT_ASSET_DIR = "spiree";

  private SpireeAndroid() {}

  /** Loads {@code assets/spiree/model.vmfb} with default options. */
  public static SpireeModel load(Context context) {
    return load(context, DEFAULT_ASSET_DIR, new SpireeModel.Options());
  }

  /** Loads {@code assets/<assetDir>/model.vmfb} and {@code model.json}. */
  public static SpireeModel load(Context context, String assetDir, SpireeModel.Options options) {
    AssetManager assets = context.getAssets();
    String json = readAsset(assets, assetDir + "/model.json");
    ModelManifest manifest = ModelManifest.parse(json);
    File dir = new File(context.getNoBackupFilesDir(), "spiree");
    File vmfb = new File(dir, manifest.vmfbSha256() + ".vmfb");
    if (!vmfb.isFile()) {
      extract(assets, assetDir + "/model.vmfb", dir, vmfb);
    }
    return SpireeModel.fromFile(vmfb, json, options);
  }

  private static String readAsset(AssetManager assets, String path) {
    try (InputStream in = assets.open(path)) {
      return SpireeModel.readText(in);
    } catch (FileNotFoundException e) {
      throw missing(path, e);
    } catch (IOException e) {
      throw new SpireeException("cannot read asset '" + path + "': " + e.getMessage(), e);
    }
  }

  private static void extract(AssetManager assets, String path, File dir, File dest) {
    if (!dir.isDirectory() && !dir.mkdirs()) {
      throw new SpireeException("cannot create " + dir);
    }
    // Older copies (other models) are removed: one extracted model per asset directory is enough.
    File[] old = dir.listFiles();
    if (old != null) {
      for (File f : old) {
        if (f.getName().endsWith(".vmfb")) {
          f.delete();
        }
      }
    }
    File tmp = new File(dir, dest.getName() + ".tmp");
    try (InputStream in = assets.open(path); OutputStream out = new FileOutputStream(tmp)) {
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        out.write(buf, 0, n);
      }
    } catch (FileNotFoundException e) {
      tmp.delete();
      throw missing(path, e);
    } catch (IOException e) {
      tmp.delete();
      throw new SpireeException("cannot copy asset '" + path + "' to " + tmp + ": " + e.getMessage(), e);
    }
    if (!tmp.renameTo(dest)) {
      tmp.delete();
      throw new SpireeException("cannot rename " + tmp + " to " + dest);
    }
  }

  private static SpireeException missing(String path, Exception e) {
    return new SpireeException("asset '" + path + "' is not in this app: run `spiree android MODEL "
        + "-o <spiree module dir>` (it writes src/main/assets/" + DEFAULT_ASSET_DIR + "/model.vmfb and "
        + "model.json) and rebuild the app", e);
  }
}
