// Pass `detect` (python -m spiree.mlir_passes.detect FILE). One case per split.

// A 1x1 conv whose 8 output channels form two G=4 groups keeping 2 of 4 input channels each.
// CHECK-LABEL: func.func @annotate_group4_half_sparse
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK-SAME: spiree.sparse = {balanced = true, density = 5.000000e-01 : f64, group = 4 : i64, k = 2 : i64}
func.func @annotate_group4_half_sparse(%x: tensor<1x4x3x3xf32>, %init: tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32> {
  %w = arith.constant dense<[[[[1.0]], [[0.0]], [[2.0]], [[0.0]]], [[[3.0]], [[0.0]], [[4.0]], [[0.0]]],
                             [[[5.0]], [[0.0]], [[6.0]], [[0.0]]], [[[7.0]], [[0.0]], [[8.0]], [[0.0]]],
                             [[[0.0]], [[1.0]], [[0.0]], [[2.0]]], [[[0.0]], [[3.0]], [[0.0]], [[4.0]]],
                             [[[0.0]], [[5.0]], [[0.0]], [[6.0]]], [[[0.0]], [[7.0]], [[0.0]], [[8.0]]]]> : tensor<8x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x3x3xf32>, tensor<8x4x1x1xf32>) outs(%init : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %0 : tensor<1x8x3x3xf32>
}

// -----

// Unstructured zeros: only G=1 holds; 2 of 8 zeros is too dense for the sparse kernel.
// CHECK-LABEL: func.func @expect_dense_below_threshold
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK-SAME: spiree.dense = "sparsity 0.12 below 0.20: dense is faster"
// CHECK-NOT: spiree.sparse
func.func @expect_dense_below_threshold(%x: tensor<1x4x3x3xf32>, %init: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant dense<[[[[1.0]], [[0.0]], [[2.0]], [[3.0]]], [[[3.0]], [[1.0]], [[4.0]], [[1.0]]]]> : tensor<2x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x3x3xf32>, tensor<2x4x1x1xf32>) outs(%init : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// CHECK-LABEL: func.func @expect_dense_weight_not_constant
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK-SAME: spiree.dense = "weight is not a constant"
func.func @expect_dense_weight_not_constant(%x: tensor<1x4x3x3xf32>, %w: tensor<2x4x1x1xf32>, %init: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x3x3xf32>, tensor<2x4x1x1xf32>) outs(%init : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// Strided 1x1 and 3x3 convolutions are not matched at all.
// CHECK-LABEL: func.func @expect_no_annotation_strided_or_3x3
// CHECK-NOT: spiree.
func.func @expect_no_annotation_strided_or_3x3(%x: tensor<1x4x4x4xf32>, %i1: tensor<1x2x2x2xf32>, %i3: tensor<1x2x2x2xf32>) -> (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) {
  %w1 = arith.constant dense<0.0> : tensor<2x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%x, %w1 : tensor<1x4x4x4xf32>, tensor<2x4x1x1xf32>) outs(%i1 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %w3 = arith.constant dense<0.0> : tensor<2x4x3x3xf32>
  %1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w3 : tensor<1x4x4x4xf32>, tensor<2x4x3x3xf32>) outs(%i3 : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %0, %1 : tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>
}

// -----

// A Linear layer: positions are input channels; 4 outputs share input channels {0, 2}.
// CHECK-LABEL: func.func @annotate_linear
// CHECK: linalg.matmul
// CHECK-SAME: spiree.sparse = {balanced = true, density = 5.000000e-01 : f64, group = 4 : i64, k = 2 : i64}
func.func @annotate_linear(%x: tensor<1x4xf32>, %init: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 4.0, 0.0], [5.0, 0.0, 6.0, 0.0], [7.0, 0.0, 8.0, 0.0]]> : tensor<4x4xf32>
  %et = tensor.empty() : tensor<4x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x4xf32>) outs(%et : tensor<4x4xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%x, %wt : tensor<1x4xf32>, tensor<4x4xf32>) outs(%init : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

// A matmul whose weight is not a transposed constant is not a Linear layer we can read.
// CHECK-LABEL: func.func @expect_no_annotation_plain_matmul
// CHECK-NOT: spiree.
func.func @expect_no_annotation_plain_matmul(%x: tensor<1x4xf32>, %w: tensor<4x4xf32>, %init: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %0 = linalg.matmul ins(%x, %w : tensor<1x4xf32>, tensor<4x4xf32>) outs(%init : tensor<1x4xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}
