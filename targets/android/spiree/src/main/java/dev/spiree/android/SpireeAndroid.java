package dev.spiree.android;

import android.content.Context;
import android.content.res.AssetManager;
import dev.spiree.ModelManifest;
import dev.spiree.ModelStore;
import dev.spiree.SpireeException;
import dev.spiree.SpireeModel;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;

/**
 * Loads the model that {@code spiree android} put into the app's assets (the only class of the
 * library that needs the Android SDK).
 *
 * <p>The first load copies {@code <assetDir>/model.vmfb} into the app's no-backup files directory
 * ({@link ModelStore}: a directory per asset folder, the file named by its SHA-256 from
 * model.json); later loads memory-map that file, so the runtime reads the model in place without
 * holding it on the Java heap, whatever the asset's compression. Several models (one asset folder
 * each) are each extracted once.
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
    final AssetManager assets = context.getAssets();
    String json = readAsset(assets, assetDir + "/model.json");
    ModelManifest manifest = ModelManifest.parse(json);
    final String path = assetDir + "/model.vmfb";
    File vmfb;
    try {
      vmfb = ModelStore.extract(context.getNoBackupFilesDir(), assetDir, manifest.vmfbSha256(),
          new ModelStore.Source() {
            @Override
            public InputStream open() throws IOException {
              return assets.open(path);
            }
          }, "asset '" + path + "'");
    } catch (SpireeException e) {
      if (e.getCause() instanceof FileNotFoundException) {
        throw missing(path, (FileNotFoundException) e.getCause());
      }
      throw e;
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

  private static SpireeException missing(String path, Exception e) {
    return new SpireeException("asset '" + path + "' is not in this app: run `spiree android MODEL "
        + "-o <spiree module dir>` (it writes src/main/assets/" + DEFAULT_ASSET_DIR + "/model.vmfb and "
        + "model.json) and rebuild the app", e);
  }
}
