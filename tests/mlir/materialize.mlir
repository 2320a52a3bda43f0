// Pass `materialize` (python -m spiree.mlir_passes.materialize FILE --target host).

// Bias broadcast and ReLU fold into the kernel; conv, broadcast use and ReLU generic are gone.
// CHECK: #[[TGT:.*]] = #hal.executable.target<"llvm-cpu", "embedded-elf-x86_64">
// CHECK-LABEL: stream.executable private @spiree_pointwise_kernels
// CHECK-SAME: hal.executable.objects = #hal.executable.objects<{#[[TGT]] = [#hal.executable.object<{
// CHECK-SAME: path = "{{.*}}/kernels/host-{{[0-9a-f]+}}.o"
// CHECK: stream.executable.export public @pointwise_0 workgroups() -> (index, index, index)
// CHECK: func.func private @[[KERNEL:spiree_spmm_f32_[0-9]+x4_v[0-9]+_i8]](
// CHECK-SAME: attributes {hal.import.static}
// CHECK: func.func @pointwise_0(
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[HI:.*]] = arith.constant 0x7F800000 : f32
// CHECK: call @[[KERNEL]]({{.*}}, %[[LO]], %[[HI]])
// CHECK-LABEL: func.func @fuse_bias_and_relu
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x3x3xf32>)
// CHECK-DAG: %[[V:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 3.000000e+00, 5.000000e+00, 7.000000e+00], [2.000000e+00, 4.000000e+00, 6.000000e+00, 8.000000e+00]], {{\[\[}}1.000000e+00, 3.000000e+00, 5.000000e+00, 7.000000e+00], [2.000000e+00, 4.000000e+00, 6.000000e+00, 8.000000e+00]]]> : tensor<2x2x4xf32>
// CHECK-DAG: %[[I:.*]] = arith.constant dense<{{\[\[}}0, 2], [1, 3]]> : tensor<2x2xi8>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[2.500000e-01, 5.000000e-01, 7.500000e-01, 1.000000e+00, 1.250000e+00, 1.500000e+00, 1.750000e+00, 2.000000e+00]> : tensor<8xf32>
// CHECK: %[[D:.*]] = flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%[[X]], %[[V]], %[[I]], %[[B]]) : (tensor<1x4x3x3xf32>, tensor<2x2x4xf32>, tensor<2x2xi8>, tensor<8xf32>) -> tensor<1x8x3x3xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @fuse_bias_and_relu(%x: tensor<1x4x3x3xf32>) -> tensor<1x8x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %bias = arith.constant dense<[0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]> : tensor<8xf32>
  %w = arith.constant dense<[[[[1.0]], [[0.0]], [[2.0]], [[0.0]]], [[[3.0]], [[0.0]], [[4.0]], [[0.0]]],
                             [[[5.0]], [[0.0]], [[6.0]], [[0.0]]], [[[7.0]], [[0.0]], [[8.0]], [[0.0]]],
                             [[[0.0]], [[1.0]], [[0.0]], [[2.0]]], [[[0.0]], [[3.0]], [[0.0]], [[4.0]]],
                             [[[0.0]], [[5.0]], [[0.0]], [[6.0]]], [[[0.0]], [[7.0]], [[0.0]], [[8.0]]]]> : tensor<8x4x1x1xf32>
  %e = tensor.empty() : tensor<1x8x3x3xf32>
  %b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x3x3xf32>) dimensions = [0, 2, 3]
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>,
         spiree.sparse = {balanced = true, density = 5.000000e-01 : f64, group = 4 : i64, k = 2 : i64}}
         ins(%x, %w : tensor<1x4x3x3xf32>, tensor<8x4x1x1xf32>) outs(%b : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0 : tensor<1x8x3x3xf32>) outs(%e : tensor<1x8x3x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %c, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x8x3x3xf32>
  return %1 : tensor<1x8x3x3xf32>
}

// -----

// No ReLU after the conv, zero-filled accumulator: bias zeros, no clamp (-inf, +inf).
// CHECK: func.func @pointwise_0(
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.constant 0x7F800000 : f32
// CHECK-LABEL: func.func @zero_init_no_activation
// CHECK-DAG: arith.constant dense<0.000000e+00> : tensor<8xf32>
// CHECK: flow.dispatch @spiree_pointwise_kernels::@pointwise_0
// CHECK-NOT: linalg.conv_2d_nchw_fchw
func.func @zero_init_no_activation(%x: tensor<1x4x3x3xf32>) -> tensor<1x8x3x3xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x3x3xf32>
  %w = arith.constant dense<[[[[1.0]], [[0.0]], [[2.0]], [[0.0]]], [[[3.0]], [[0.0]], [[4.0]], [[0.0]]],
                             [[[5.0]], [[0.0]], [[6.0]], [[0.0]]], [[[7.0]], [[0.0]], [[8.0]], [[0.0]]],
                             [[[0.0]], [[1.0]], [[0.0]], [[2.0]]], [[[0.0]], [[3.0]], [[0.0]], [[4.0]]],
                             [[[0.0]], [[5.0]], [[0.0]], [[6.0]]], [[[0.0]], [[7.0]], [[0.0]], [[8.0]]]]> : tensor<8x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>,
         spiree.sparse = {balanced = true, density = 5.000000e-01 : f64, group = 4 : i64, k = 2 : i64}}
         ins(%x, %w : tensor<1x4x3x3xf32>, tensor<8x4x1x1xf32>) outs(%init : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %0 : tensor<1x8x3x3xf32>
}

// -----

// A layer detect kept dense runs the dense variant of the kernel: weights [NG, C_in, G=4],
// no index table.
// CHECK: func.func private @[[GEMM:spiree_gemm_f32_[0-9]+x4_v[0-9]+]](memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>,
// CHECK-LABEL: func.func @dense_layer_runs_dense_kernel
// CHECK: %[[V:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 5.000000e+00, 0.000000e+00, 0.000000e+00], [2.000000e+00, 6.000000e+00, 0.000000e+00, 0.000000e+00], [3.000000e+00, 7.000000e+00, 0.000000e+00, 0.000000e+00], [4.000000e+00, 8.000000e+00, 0.000000e+00, 0.000000e+00]]]> : tensor<1x4x4xf32>
// CHECK-NOT: xi8>
// CHECK: flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%{{.*}}, %[[V]], %{{.*}}) : (tensor<1x4x3x3xf32>, tensor<1x4x4xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK-NOT: spiree.
func.func @dense_layer_runs_dense_kernel(%x: tensor<1x4x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %init = arith.constant dense<0.0> : tensor<1x2x3x3xf32>
  %w = arith.constant dense<[[[[1.0]], [[2.0]], [[3.0]], [[4.0]]], [[[5.0]], [[6.0]], [[7.0]], [[8.0]]]]> : tensor<2x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "too dense"}
         ins(%x, %w : tensor<1x4x3x3xf32>, tensor<2x4x1x1xf32>) outs(%init : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// The accumulator comes from a function argument, not a bias: the layer stays dense.
// CHECK-LABEL: func.func @expect_no_rewrite_unknown_init
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK-NOT: spiree.sparse
// CHECK-NOT: flow.dispatch
func.func @expect_no_rewrite_unknown_init(%x: tensor<1x4x3x3xf32>, %init: tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32> {
  %w = arith.constant dense<[[[[1.0]], [[0.0]], [[2.0]], [[0.0]]], [[[3.0]], [[0.0]], [[4.0]], [[0.0]]],
                             [[[5.0]], [[0.0]], [[6.0]], [[0.0]]], [[[7.0]], [[0.0]], [[8.0]], [[0.0]]],
                             [[[0.0]], [[1.0]], [[0.0]], [[2.0]]], [[[0.0]], [[3.0]], [[0.0]], [[4.0]]],
                             [[[0.0]], [[5.0]], [[0.0]], [[6.0]]], [[[0.0]], [[7.0]], [[0.0]], [[8.0]]]]> : tensor<8x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>,
         spiree.sparse = {balanced = true, density = 5.000000e-01 : f64, group = 4 : i64, k = 2 : i64}}
         ins(%x, %w : tensor<1x4x3x3xf32>, tensor<8x4x1x1xf32>) outs(%init : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %0 : tensor<1x8x3x3xf32>
}

// -----

// A Linear layer (matmul with a transposed constant weight) runs the pointwise kernel over
// one pixel; the bias add that follows stays as it is.
// CHECK: func.func private @spiree_spmm_f32_{{[0-9]+}}x4_v{{[0-9]+}}_i8(
// CHECK-LABEL: func.func @linear_layer
// CHECK-DAG: %[[V:.*]] = arith.constant dense<{{.*}}> : tensor<1x2x4xf32>
// CHECK-DAG: %[[I:.*]] = arith.constant dense<{{\[\[}}0, 2]]> : tensor<1x2xi8>
// CHECK: %[[D:.*]] = flow.dispatch @spiree_pointwise_kernels::@linear_0(%arg0, %[[V]], %[[I]], %{{.*}}) : (tensor<2x4xf32>, tensor<1x2x4xf32>, tensor<1x2xi8>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {{.*}} ins(%[[D]]
func.func @linear_layer(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 4.0, 0.0], [5.0, 0.0, 6.0, 0.0], [7.0, 0.0, 8.0, 0.0]]> : tensor<4x4xf32>
  %bias = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %et = tensor.empty() : tensor<4x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x4xf32>) outs(%et : tensor<4x4xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %0 = linalg.matmul {spiree.sparse = {balanced = true, density = 5.000000e-01 : f64, group = 4 : i64, k = 2 : i64}}
         ins(%x, %wt : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
         iterator_types = ["parallel", "parallel"]} ins(%0, %bias : tensor<2x4xf32>, tensor<4xf32>) outs(%e : tensor<2x4xf32>) {
  ^bb0(%in: f32, %b: f32, %out: f32):
    %s = arith.addf %in, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x4xf32>
  return %1 : tensor<2x4xf32>
}

// -----

// A layer whose input (4 channels x 256 pixels) outweighs its weights is split along pixels:
// 4 workgroups of 64-pixel tiles (y) x 2 of its 2 output-channel groups (x), each getting a
// balanced unit range and pixel range; the kernel takes the pixel chunk as a scalar.
// CHECK: stream.executable.export public @pointwise_0 workgroups() -> (index, index, index)
// CHECK-NEXT: %[[GX:.*]] = arith.constant 2 : index
// CHECK-NEXT: %[[GY:.*]] = arith.constant 4 : index
// CHECK: stream.return %[[GX]], %[[GY]], %{{.*}} : index, index, index
// CHECK: func.func private @[[KERNEL:spiree_gemm_f32_64x4_v[0-9]+]](
// CHECK: func.func @pointwise_0(
// CHECK: %[[CHUNK:.*]] = arith.constant 16384 : index
// CHECK: stream.dispatch.workgroup.id[0] : index
// CHECK: %[[U0:.*]] = arith.divui %{{.*}}, %{{.*}} : index
// CHECK: %[[U1:.*]] = arith.divui %{{.*}}, %{{.*}} : index
// CHECK: stream.dispatch.workgroup.id[1] : index
// CHECK: %[[P0:.*]] = arith.minui %{{.*}}, %{{.*}} : index
// CHECK: %[[P1:.*]] = arith.minui %{{.*}}, %{{.*}} : index
// CHECK: call @[[KERNEL]]({{.*}}, %[[CHUNK]], %[[U0]], %[[U1]], %[[P0]], %[[P1]], %{{.*}}, %{{.*}})
// CHECK-LABEL: func.func @split_pixels_of_a_large_input
func.func @split_pixels_of_a_large_input(%x: tensor<1x4x16x16xf32>) -> tensor<1x8x16x16xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x16x16xf32>
  %w = arith.constant dense<1.0> : tensor<8x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>,
         spiree.dense = "test"}
         ins(%x, %w : tensor<1x4x16x16xf32>, tensor<8x4x1x1xf32>) outs(%init : tensor<1x8x16x16xf32>) -> tensor<1x8x16x16xf32>
  return %0 : tensor<1x8x16x16xf32>
}

// -----

// Weights (256x64) outweigh the input (64 channels x 128 pixels): split along output-channel
// groups only (8 workgroups of the 64 groups, one along the pixels).
// CHECK: stream.executable.export public @pointwise_0 workgroups() -> (index, index, index)
// CHECK-NEXT: %[[GX:.*]] = arith.constant 8 : index
// CHECK-NEXT: %[[GY:.*]] = arith.constant 1 : index
// CHECK: stream.return %[[GX]], %[[GY]], %{{.*}} : index, index, index
// CHECK-LABEL: func.func @expect_no_pixel_split_when_weights_dominate
func.func @expect_no_pixel_split_when_weights_dominate(%x: tensor<1x64x8x16xf32>) -> tensor<1x256x8x16xf32> {
  %init = arith.constant dense<0.0> : tensor<1x256x8x16xf32>
  %w = arith.constant dense<1.0> : tensor<256x64x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>,
         spiree.dense = "test"}
         ins(%x, %w : tensor<1x64x8x16xf32>, tensor<256x64x1x1xf32>) outs(%init : tensor<1x256x8x16xf32>) -> tensor<1x256x8x16xf32>
  return %0 : tensor<1x256x8x16xf32>
}
