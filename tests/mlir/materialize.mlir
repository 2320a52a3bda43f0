// Pass `materialize` (python -m spiree.mlir_passes.materialize FILE --target host).

// Bias broadcast and ReLU fold into the kernel; conv, broadcast use and ReLU generic are gone.
// TARGET: arm64
// CHECK: #[[TGT:.*]] = #hal.executable.target<"llvm-cpu", "embedded-elf-arm_64">
// CHECK-LABEL: stream.executable private @spiree_pointwise_kernels
// CHECK-SAME: hal.executable.objects = #hal.executable.objects<{#[[TGT]] = [#hal.executable.object<{
// CHECK-SAME: path = "{{.*}}/kernels/arm64-{{[0-9a-f]+}}.o"
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

// A layer detect kept dense runs the dense variant of the kernel: weights [NG, C_in, G=4]
// (wasm32: 16 vector registers, 4 x 2 vectors of accumulators), no index table; a 3x3 plane
// (under two 8-pixel tiles) gets the variant that reads K at run time.
// TARGET: wasm32
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

// ReLU6 as torch-mlir spells it (two select generics against rank-0 constants) is the
// kernel's clamp to [0, 6]; both generics are gone.
// CHECK: func.func @pointwise_0(
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[HI:.*]] = arith.constant 6.000000e+00 : f32
// CHECK: call @spiree_gemm_f32_{{[0-9]+}}x{{[48]}}_v{{[0-9]+}}({{.*}}, %[[LO]], %[[HI]])
// CHECK-LABEL: func.func @fuse_relu6
// CHECK: %[[D:.*]] = flow.dispatch @spiree_pointwise_kernels::@pointwise_0
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map0 = affine_map<(d0, d1, d2, d3) -> ()>
func.func @fuse_relu6(%x: tensor<1x2x3x3xf32>) -> tensor<1x4x3x3xf32> {
  %zero = arith.constant dense<0.0> : tensor<f32>
  %six = arith.constant dense<6.0> : tensor<f32>
  %init = arith.constant dense<0.0> : tensor<1x4x3x3xf32>
  %w = arith.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]], [[[5.0]], [[6.0]]], [[[7.0]], [[8.0]]]]> : tensor<4x2x1x1xf32>
  %e = tensor.empty() : tensor<1x4x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%x, %w : tensor<1x2x3x3xf32>, tensor<4x2x1x1xf32>) outs(%init : tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map0, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0, %zero : tensor<1x4x3x3xf32>, tensor<f32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%in: f32, %z: f32, %out: f32):
    %c = arith.cmpf ogt, %in, %z : f32
    %s = arith.select %c, %in, %z : f32
    linalg.yield %s : f32
  } -> tensor<1x4x3x3xf32>
  %2 = linalg.generic {indexing_maps = [#map0, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%six, %1 : tensor<f32>, tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%s6: f32, %in: f32, %out: f32):
    %c = arith.cmpf olt, %s6, %in : f32
    %s = arith.select %c, %s6, %in : f32
    linalg.yield %s : f32
  } -> tensor<1x4x3x3xf32>
  return %2 : tensor<1x4x3x3xf32>
}

// -----

// SiLU (sigmoid generic + multiply) after a residual add: one `_silu_add` dispatch taking the
// residual as an operand.
// CHECK: func.func private @spiree_gemm_f32_{{[0-9]+}}x{{[48]}}_v{{[0-9]+}}_silu_add(
// CHECK-LABEL: func.func @fuse_residual_then_silu
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x3x3xf32>, %[[R:.*]]: tensor<1x4x3x3xf32>)
// CHECK: %[[D:.*]] = flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%[[X]], %{{.*}}, %{{.*}}, %[[R]])
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @fuse_residual_then_silu(%x: tensor<1x2x3x3xf32>, %r: tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32> {
  %one = arith.constant 1.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x4x3x3xf32>
  %w = arith.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]], [[[5.0]], [[6.0]]], [[[7.0]], [[8.0]]]]> : tensor<4x2x1x1xf32>
  %e = tensor.empty() : tensor<1x4x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%x, %w : tensor<1x2x3x3xf32>, tensor<4x2x1x1xf32>) outs(%init : tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0, %r : tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x4x3x3xf32>
  %2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%1 : tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %q = arith.divf %one, %d : f32
    linalg.yield %q : f32
  } -> tensor<1x4x3x3xf32>
  %3 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%1, %2 : tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x3x3xf32>
  return %3 : tensor<1x4x3x3xf32>
}

// -----

// Squeeze-and-excitation: the input is y * gate (gate [1, C, 1, 1] broadcast); the kernel
// takes y and the gate (`_scale`) and the product generic is gone.
// CHECK: func.func private @spiree_gemm_f32_{{[0-9]+}}x{{[48]}}_v{{[0-9]+}}_scale(
// CHECK-LABEL: func.func @fold_se_gate
// CHECK-SAME: (%[[Y:.*]]: tensor<1x2x3x3xf32>, %[[G:.*]]: tensor<1x2x1x1xf32>)
// CHECK: %[[D:.*]] = flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%[[Y]], %{{.*}}, %{{.*}}, %[[G]])
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#mapg = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
func.func @fold_se_gate(%y: tensor<1x2x3x3xf32>, %g: tensor<1x2x1x1xf32>) -> tensor<1x4x3x3xf32> {
  %init = arith.constant dense<0.0> : tensor<1x4x3x3xf32>
  %w = arith.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]], [[[5.0]], [[6.0]]], [[[7.0]], [[8.0]]]]> : tensor<4x2x1x1xf32>
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %x = linalg.generic {indexing_maps = [#map, #mapg, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%y, %g : tensor<1x2x3x3xf32>, tensor<1x2x1x1xf32>) outs(%e : tensor<1x2x3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x2x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%x, %w : tensor<1x2x3x3xf32>, tensor<4x2x1x1xf32>) outs(%init : tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  return %0 : tensor<1x4x3x3xf32>
}

// -----

// Not absorbed: the conv result is also returned (the ReLU generic must stay), and an
// activation the kernels do not have (tanh) stays in IREE.
// CHECK-LABEL: func.func @expect_no_fusion
// CHECK: %[[D:.*]] = flow.dispatch @spiree_pointwise_kernels::@pointwise_0
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%[[D]]
// CHECK: arith.cmpf
// CHECK: %[[D1:.*]] = flow.dispatch @spiree_pointwise_kernels::@pointwise_1
// CHECK: linalg.generic {{.*}} ins(%[[D1]]
// CHECK: math.tanh
// CHECK: return %[[D]], %[[A]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @expect_no_fusion(%x: tensor<1x2x3x3xf32>) -> (tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>) {
  %zero = arith.constant 0.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x4x3x3xf32>
  %w = arith.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]], [[[5.0]], [[6.0]]], [[[7.0]], [[8.0]]]]> : tensor<4x2x1x1xf32>
  %e = tensor.empty() : tensor<1x4x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%x, %w : tensor<1x2x3x3xf32>, tensor<4x2x1x1xf32>) outs(%init : tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0 : tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %c, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x4x3x3xf32>
  %2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%x, %w : tensor<1x2x3x3xf32>, tensor<4x2x1x1xf32>) outs(%init : tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %3 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%2 : tensor<1x4x3x3xf32>) outs(%e : tensor<1x4x3x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = math.tanh %in : f32
    linalg.yield %t : f32
  } -> tensor<1x4x3x3xf32>
  return %0, %1, %3 : tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>
}

// -----

// A dense layer with C_in >= 64 on a 7x7 plane runs the channel-vectorized kernel on 16 lanes:
// weights [C_out/32, C_in, 32] (zero rows pad the 40 channels to 64), same operands otherwise.
// REQUIRES: host-lanes-16
// CHECK: func.func private @[[GEMMC:spiree_gemmc_f32_32x7_v16]](memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>,
// CHECK-LABEL: func.func @dense_7x7_runs_channel_vectorized_kernel
// CHECK: %[[V:.*]] = arith.constant {{.*}} : tensor<2x64x32xf32>
// CHECK: flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%{{.*}}, %[[V]], %{{.*}}) : (tensor<1x64x7x7xf32>, tensor<2x64x32xf32>, tensor<40xf32>) -> tensor<1x40x7x7xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
func.func @dense_7x7_runs_channel_vectorized_kernel(%x: tensor<1x64x7x7xf32>) -> tensor<1x40x7x7xf32> {
  %init = arith.constant dense<0.0> : tensor<1x40x7x7xf32>
  %w = arith.constant dense<0.5> : tensor<40x64x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "too dense"}
         ins(%x, %w : tensor<1x64x7x7xf32>, tensor<40x64x1x1xf32>) outs(%init : tensor<1x40x7x7xf32>) -> tensor<1x40x7x7xf32>
  return %0 : tensor<1x40x7x7xf32>
}

// -----

// The same layer on a 14x14 plane keeps the pixel-vectorized dense kernel (blocks of 8 on 32
// registers), built for any K (C_in = 64 is over the fixed-K limit: no `_k` suffix).
// REQUIRES: host-lanes-16
// CHECK: func.func private @{{spiree_gemm_f32_32x8_v16}}(
// CHECK-LABEL: func.func @dense_14x14_keeps_pixel_kernel
// CHECK: flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<1x64x14x14xf32>, tensor<5x64x8xf32>, tensor<40xf32>) -> tensor<1x40x14x14xf32>
// CHECK-NOT: gemmc
func.func @dense_14x14_keeps_pixel_kernel(%x: tensor<1x64x14x14xf32>) -> tensor<1x40x14x14xf32> {
  %init = arith.constant dense<0.0> : tensor<1x40x14x14xf32>
  %w = arith.constant dense<0.5> : tensor<40x64x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "too dense"}
         ins(%x, %w : tensor<1x64x14x14xf32>, tensor<40x64x1x1xf32>) outs(%init : tensor<1x40x14x14xf32>) -> tensor<1x40x14x14xf32>
  return %0 : tensor<1x40x14x14xf32>
}

// -----

// A plane of two pixel tiles or more (4x4 = 16 pixels, wasm32 tiles of 8) with K = C_in = 4:
// the variant built for that K (`_k4`, a constant trip count).
// TARGET: wasm32
// CHECK: func.func private @[[GEMM:spiree_gemm_f32_8x4_v4_k4]](
// CHECK-LABEL: func.func @small_k_gets_fixed_k_variant
// CHECK: flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<1x4x4x4xf32>, tensor<1x4x4xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
func.func @small_k_gets_fixed_k_variant(%x: tensor<1x4x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %init = arith.constant dense<0.0> : tensor<1x2x4x4xf32>
  %w = arith.constant dense<[[[[1.0]], [[2.0]], [[3.0]], [[4.0]]], [[[5.0]], [[6.0]], [[7.0]], [[8.0]]]]> : tensor<2x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "too dense"}
         ins(%x, %w : tensor<1x4x4x4xf32>, tensor<2x4x1x1xf32>) outs(%init : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}
