// Pass `maxpool` (python -m spiree.mlir_passes.maxpool FILE --target host; a case naming the
// vector width says `// TARGET: <name>`).

// ResNet's 3x3/2 max pooling with -inf padding 1: one dispatch on the unpadded input; the pad,
// the -inf fill and the pooling op are gone. (arm64: the kernel of NEON's 4 lanes.)
// TARGET: arm64
// CHECK: stream.executable private @spiree_maxpool_kernels
// CHECK: stream.executable.export public @maxpool_0
// CHECK: func.func private @[[K:spiree_maxpool3x3s2_f32_v4]](memref<?xf32>, memref<?xf32>, index, index, index, index, index, index, index, index, index, index, f32, f32)
// CHECK: func.func @maxpool_0(
// CHECK-DAG: arith.constant 0xFF800000 : f32
// CHECK-DAG: arith.constant 0x7F800000 : f32
// CHECK: call @[[K]](
// CHECK-LABEL: func.func @resnet_maxpool
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x16x16xf32>)
// CHECK: %[[D:.*]] = flow.dispatch @spiree_maxpool_kernels::@maxpool_0(%[[X]]) : (tensor<1x4x16x16xf32>) -> tensor<1x4x8x8xf32>
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.pooling_nchw_max
// CHECK: return %[[D]]
func.func @resnet_maxpool(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x8x8xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %ninf : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32>
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %win = tensor.empty() : tensor<3x3xf32>
  %0 = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%p, %win : tensor<1x4x18x18xf32>, tensor<3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

// Unpadded 2x2/2 pooling followed by a ReLU: the ReLU is the kernel's clamp (vmin 0).
// TARGET: wasm32
// CHECK: func.func private @spiree_maxpool2x2s2_f32_v4(
// CHECK: func.func @maxpool_0(
// CHECK: arith.constant 0.000000e+00 : f32
// CHECK-LABEL: func.func @unpadded_then_relu
// CHECK: %[[D:.*]] = flow.dispatch @spiree_maxpool_kernels::@maxpool_0(%arg0) : (tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @unpadded_then_relu(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %win = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%x, %win : tensor<1x2x6x6xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0 : tensor<1x2x3x3xf32>) outs(%e : tensor<1x2x3x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x2x3x3xf32>
  return %1 : tensor<1x2x3x3xf32>
}

// -----

// Padding with zeros (not -inf: a different function): left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_zero_pad
// CHECK-NOT: flow.dispatch
// CHECK: linalg.pooling_nchw_max
func.func @expect_no_rewrite_zero_pad(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x8x8xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  } : tensor<1x4x16x16xf32> to tensor<1x4x18x18xf32>
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %win = tensor.empty() : tensor<3x3xf32>
  %0 = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%p, %win : tensor<1x4x18x18xf32>, tensor<3x3xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

// The accumulator is a fill of 0 (max with 0, not a plain max pooling): left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_zero_fill
// CHECK-NOT: flow.dispatch
// CHECK: linalg.pooling_nchw_max
func.func @expect_no_rewrite_zero_fill(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %win = tensor.empty() : tensor<2x2xf32>
  %0 = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%x, %win : tensor<1x4x16x16xf32>, tensor<2x2xf32>) outs(%f : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

// Dilated pooling: left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_dilated
// CHECK-NOT: flow.dispatch
// CHECK: linalg.pooling_nchw_max
func.func @expect_no_rewrite_dilated(%x: tensor<1x4x16x16xf32>) -> tensor<1x4x6x6xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x4x6x6xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %win = tensor.empty() : tensor<3x3xf32>
  %0 = linalg.pooling_nchw_max {dilations = dense<2> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%x, %win : tensor<1x4x16x16xf32>, tensor<3x3xf32>) outs(%f : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}
