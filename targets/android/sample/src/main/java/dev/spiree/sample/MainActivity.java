package dev.spiree.sample;

import android.app.Activity;
import android.os.Bundle;
import android.widget.TextView;
import dev.spiree.SpireeModel;
import dev.spiree.TensorSpec;
import dev.spiree.android.SpireeAndroid;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;

/**
 * Loads assets/spiree/model.vmfb (written by `spiree android`), runs it on a synthetic input (a
 * seeded random "image" of the model's input shape) on a background thread, and shows the top-5
 * classes of the first output and the latency (first run and median of 10).
 */
public class MainActivity extends Activity {
  private TextView result;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    result = findViewById(R.id.result);
    new Thread(this::runModel, "spiree").start();
  }

  private void runModel() {
    String text;
    try (SpireeModel model = SpireeAndroid.load(this)) {
      TensorSpec out = model.outputs().get(0);
      FloatBuffer x = model.newInputBuffer(0); // 64-byte aligned: the runtime reads it in place
      Random random = new Random(0);
      for (int i = 0; i < x.capacity(); i++) {
        x.put(i, (float) random.nextGaussian());
      }
      FloatBuffer y = model.newOutputBuffer(0);

      long t0 = System.nanoTime();
      model.run(new FloatBuffer[] {x}, new FloatBuffer[] {y});
      double firstMs = (System.nanoTime() - t0) / 1e6;
      double[] ms = new double[10];
      for (int i = 0; i < ms.length; i++) {
        long t = System.nanoTime();
        model.run(new FloatBuffer[] {x}, new FloatBuffer[] {y});
        ms[i] = (System.nanoTime() - t) / 1e6;
      }
      Arrays.sort(ms);

      StringBuilder b = new StringBuilder();
      b.append(model.manifest().modelName()).append('\n')
          .append(model.manifest().signature()).append("\n\n")
          .append(String.format("latency: first run %.1f ms, median of %d runs %.1f ms\n\n",
              firstMs, ms.length, ms[ms.length / 2]))
          .append("top-5 classes of ").append(out.name()).append(":\n");
      for (int k : topK(y, 5)) {
        b.append(String.format("  class %4d  %9.4f\n", k, y.get(k)));
      }
      text = b.toString();
    } catch (RuntimeException e) {
      text = "spiree failed:\n" + e.getMessage();
    }
    final String shown = text;
    runOnUiThread(() -> result.setText(shown));
  }

  private static int[] topK(FloatBuffer y, int k) {
    int n = y.capacity();
    k = Math.min(k, n);
    int[] best = new int[k];
    boolean[] taken = new boolean[n];
    for (int j = 0; j < k; j++) {
      int arg = -1;
      for (int i = 0; i < n; i++) {
        if (!taken[i] && (arg < 0 || y.get(i) > y.get(arg))) {
          arg = i;
        }
      }
      taken[arg] = true;
      best[j] = arg;
    }
    return best;
  }
}
