// Pass `se` (python -m spiree.mlir_passes.se FILE --target wasm32).

// pooling -> 1x1 conv (bias) -> SiLU -> 1x1 conv (bias) -> sigmoid becomes one dispatch of the
// SE kernel reading the unpooled tensor. The weights are packed as the pointwise kernels pack
// them: the reduce weight [2, 8] has different zeros per row (G=1: two groups of K=4, int32
// indices of the kept inputs), the dense expand weight [8, 2] is G=8 (one group, K=2, every
// input); then the biases and the reduce clamp (-inf, inf). Pooling, convs, bias broadcasts
// and activations are gone.
// TARGET: wasm32
// CHECK-LABEL: stream.executable private @spiree_se_kernels
// CHECK: stream.executable.export public @se_0
// CHECK: func.func private @spiree_se_f32_g1g8_v4_silu_sigmoid(memref<?xf32>, memref<?xf32>, memref<?xi32>, memref<?xf32>, memref<?xf32>, memref<?xi32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index, index, index, index, index, index, index, index, f32, f32)
// CHECK: func.func @se_0(
// CHECK: call @spiree_se_f32_g1g8_v4_silu_sigmoid(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c1{{(_[0-9]+)?}}, %c8{{(_[0-9]+)?}}, %c49{{(_[0-9]+)?}}, %c2{{(_[0-9]+)?}}, %c4{{(_[0-9]+)?}}, %c2{{(_[0-9]+)?}},
// CHECK-LABEL: func.func @squeeze_excitation
// CHECK-SAME: (%[[X:.*]]: tensor<1x8x7x7xf32>)
// CHECK-DAG: %[[V1:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00], [3.000000e+00], [5.000000e+00], [7.000000e+00]], {{\[\[}}-2.000000e+00], [-4.000000e+00], [-6.000000e+00], [-8.000000e+00]]]> : tensor<2x4x1xf32>
// CHECK-DAG: %[[I1:.*]] = arith.constant dense<{{\[\[}}0, 2, 4, 6], [1, 3, 5, 7]]> : tensor<2x4xi32>
// CHECK-DAG: %[[B1:.*]] = arith.constant dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
// CHECK-DAG: %[[V2:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 3.000000e+00, 5.000000e+00, {{.*}}, 1.500000e+01], [2.000000e+00, 4.000000e+00, {{.*}}, 1.600000e+01]]]> : tensor<1x2x8xf32>
// CHECK-DAG: %[[I2:.*]] = arith.constant dense<{{\[\[}}0, 1]]> : tensor<1x2xi32>
// CHECK-DAG: %[[B2:.*]] = arith.constant dense<2.500000e-01> : tensor<8xf32>
// CHECK-DAG: %[[C1:.*]] = arith.constant dense<[0xFF800000, 0x7F800000]> : tensor<2xf32>
// CHECK: %[[G:.*]] = flow.dispatch @spiree_se_kernels::@se_0(%[[X]], %[[V1]], %[[I1]], %[[B1]], %[[V2]], %[[I2]], %[[B2]], %[[C1]]) : (tensor<1x8x7x7xf32>, tensor<2x4x1xf32>, tensor<2x4xi32>, tensor<2xf32>, tensor<1x2x8xf32>, tensor<1x2xi32>, tensor<8xf32>, tensor<2xf32>) -> tensor<1x8x1x1xf32>
// CHECK-NOT: linalg.
// CHECK: return %[[G]]
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#red = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
func.func @squeeze_excitation(%x: tensor<1x8x7x7xf32>) -> tensor<1x8x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %c49 = arith.constant 49.0 : f32
  %w1 = arith.constant dense<[[[[1.0]], [[0.0]], [[3.0]], [[0.0]], [[5.0]], [[0.0]], [[7.0]], [[0.0]]],
                              [[[0.0]], [[-2.0]], [[0.0]], [[-4.0]], [[0.0]], [[-6.0]], [[0.0]], [[-8.0]]]]> : tensor<2x8x1x1xf32>
  %bias1 = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %w2 = arith.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]], [[[5.0]], [[6.0]]], [[[7.0]], [[8.0]]],
                              [[[9.0]], [[10.0]]], [[[11.0]], [[12.0]]], [[[13.0]], [[14.0]]], [[[15.0]], [[16.0]]]]> : tensor<8x2x1x1xf32>
  %bias2 = arith.constant dense<0.25> : tensor<8xf32>
  %e = tensor.empty() : tensor<1x8x1x1xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x1x1xf32>) -> tensor<1x8x1x1xf32>
  %s = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
         ins(%x : tensor<1x8x7x7xf32>) outs(%f : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x8x1x1xf32>
  %m = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%s : tensor<1x8x1x1xf32>) outs(%e : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %c49 : f32
    linalg.yield %d : f32
  } -> tensor<1x8x1x1xf32>
  %e1 = tensor.empty() : tensor<1x2x1x1xf32>
  %b1 = linalg.broadcast ins(%bias1 : tensor<2xf32>) outs(%e1 : tensor<1x2x1x1xf32>) dimensions = [0, 2, 3]
  %r = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%m, %w1 : tensor<1x8x1x1xf32>, tensor<2x8x1x1xf32>) outs(%b1 : tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  %sg = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%r : tensor<1x2x1x1xf32>) outs(%e1 : tensor<1x2x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %p = arith.addf %x1, %one : f32
    %q = arith.divf %one, %p : f32
    linalg.yield %q : f32
  } -> tensor<1x2x1x1xf32>
  %h = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%r, %sg : tensor<1x2x1x1xf32>, tensor<1x2x1x1xf32>) outs(%e1 : tensor<1x2x1x1xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %p = arith.mulf %in, %in2 : f32
    linalg.yield %p : f32
  } -> tensor<1x2x1x1xf32>
  %b2 = linalg.broadcast ins(%bias2 : tensor<8xf32>) outs(%e : tensor<1x8x1x1xf32>) dimensions = [0, 2, 3]
  %t = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%h, %w2 : tensor<1x2x1x1xf32>, tensor<8x2x1x1xf32>) outs(%b2 : tensor<1x8x1x1xf32>) -> tensor<1x8x1x1xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%t : tensor<1x8x1x1xf32>) outs(%e : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %p = arith.addf %x1, %one : f32
    %q = arith.divf %one, %p : f32
    linalg.yield %q : f32
  } -> tensor<1x8x1x1xf32>
  return %g : tensor<1x8x1x1xf32>
}

// -----

// Left alone: the pooled means are also returned (the pooling must stay), and a pooling whose
// 1x1 conv has a weight that is not a constant. No SE dispatch; `pool`/`materialize` take them.
// CHECK-LABEL: func.func @expect_no_rewrite
// CHECK-NOT: flow.dispatch
// CHECK: arith.divf
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK: arith.divf
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK: return
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#red = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
func.func @expect_no_rewrite(%x: tensor<1x8x7x7xf32>, %wv: tensor<2x8x1x1xf32>) -> (tensor<1x8x1x1xf32>, tensor<1x2x1x1xf32>, tensor<1x2x1x1xf32>) {
  %zero = arith.constant 0.0 : f32
  %c49 = arith.constant 49.0 : f32
  %w1 = arith.constant dense<1.0> : tensor<2x8x1x1xf32>
  %e = tensor.empty() : tensor<1x8x1x1xf32>
  %e1 = tensor.empty() : tensor<1x2x1x1xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x1x1xf32>) -> tensor<1x8x1x1xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  %s = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
         ins(%x : tensor<1x8x7x7xf32>) outs(%f : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x8x1x1xf32>
  %m = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%s : tensor<1x8x1x1xf32>) outs(%e : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %c49 : f32
    linalg.yield %d : f32
  } -> tensor<1x8x1x1xf32>
  %r = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%m, %w1 : tensor<1x8x1x1xf32>, tensor<2x8x1x1xf32>) outs(%f1 : tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  %s2 = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
         ins(%x : tensor<1x8x7x7xf32>) outs(%f : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x8x1x1xf32>
  %m2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%s2 : tensor<1x8x1x1xf32>) outs(%e : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %c49 : f32
    linalg.yield %d : f32
  } -> tensor<1x8x1x1xf32>
  %r2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>, spiree.dense = "test"}
         ins(%m2, %wv : tensor<1x8x1x1xf32>, tensor<2x8x1x1xf32>) outs(%f1 : tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  return %m, %r, %r2 : tensor<1x8x1x1xf32>, tensor<1x2x1x1xf32>, tensor<1x2x1x1xf32>
}
