package dev.spiree;

import java.util.Arrays;

/** One input or output of the model's entry function, as recorded in model.json. */
public final class TensorSpec {
  private final String name;
  private final long[] shape;
  private final String dtype;

  TensorSpec(String name, long[] shape, String dtype) {
    this.name = name;
    this.shape = shape.clone();
    this.dtype = dtype;
  }

  public String name() {
    return name;
  }

  /** The dimensions (a copy). */
  public long[] shape() {
    return shape.clone();
  }

  public String dtype() {
    return dtype;
  }

  /** The number of elements: the product of the dimensions. */
  public long elementCount() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  boolean hasShape(long[] other) {
    return Arrays.equals(shape, other);
  }

  /** For example {@code float32[1, 3, 224, 224]}. */
  public String describe() {
    return dtype + Arrays.toString(shape);
  }

  @Override
  public String toString() {
    return name + ": " + describe();
  }
}
