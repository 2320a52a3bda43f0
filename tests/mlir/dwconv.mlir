// Pass `dwconv` (python -m spiree.mlir_passes.dwconv FILE --target host).

// Pad, bias broadcast and ReLU all fold into one dispatch of the stride-1 kernel.
// CHECK: #[[TGT:.*]] = #hal.executable.target<"llvm-cpu", "embedded-elf-x86_64">
// CHECK-LABEL: stream.executable private @spiree_dwconv_kernels
// CHECK-SAME: #hal.executable.objects<{#[[TGT]] = [#hal.executable.object<{path = "{{.*}}.o"}>]}>
// CHECK: stream.executable.export public @dwconv_0
// CHECK: func.func private @[[K:spiree_dwconv3x3s1_f32_v[0-9]+]](memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index, index, index, index, index, index, index, index, f32, f32) attributes {hal.import.static}
// CHECK: func.func @dwconv_0(
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: call @[[K]]({{.*}}, %[[LO]], %{{.*}})
// CHECK-LABEL: func.func @fold_pad_bias_relu
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x5x5xf32>)
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00, 9.000000e+00], [{{.*}}]]> : tensor<2x9xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
// CHECK: %[[D:.*]] = flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%[[X]], %[[W]], %[[B]]) : (tensor<1x2x5x5xf32>, tensor<2x9xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @fold_pad_bias_relu(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  %zero = arith.constant 0.0 : f32
  %bias = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %w = arith.constant dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]]> : tensor<2x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x2x5x5xf32> to tensor<1x2x7x7xf32>
  %e = tensor.empty() : tensor<1x2x5x5xf32>
  %init = linalg.broadcast ins(%bias : tensor<2xf32>) outs(%e : tensor<1x2x5x5xf32>) dimensions = [0, 2, 3]
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x2x7x7xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0 : tensor<1x2x5x5xf32>) outs(%e : tensor<1x2x5x5xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %c, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x2x5x5xf32>
  return %1 : tensor<1x2x5x5xf32>
}

// -----

// Stride 2, no activation: the stride-2 kernel, clamp bounds -inf/+inf.
// CHECK: func.func private @spiree_dwconv3x3s2_f32_v{{[0-9]+}}(
// CHECK: arith.constant 0xFF800000 : f32
// CHECK-LABEL: func.func @stride2_no_activation
// CHECK: flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%{{.*}}) : (tensor<1x2x6x6xf32>, tensor<2x9xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
// CHECK-NOT: linalg.depthwise_conv_2d_nchw_chw
func.func @stride2_no_activation(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x2x3x3xf32>
  %w = arith.constant dense<1.0> : tensor<2x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x2x6x6xf32> to tensor<1x2x8x8xf32>
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%p, %w : tensor<1x2x8x8xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// Unpadded input (padding 0) and a 5x5 kernel: not this kernel's job, IREE keeps them.
// CHECK-LABEL: func.func @expect_no_rewrite_unpadded_or_5x5
// CHECK-COUNT-2: linalg.depthwise_conv_2d_nchw_chw
// CHECK-NOT: flow.dispatch
func.func @expect_no_rewrite_unpadded_or_5x5(%x: tensor<1x2x7x7xf32>) -> (tensor<1x2x5x5xf32>, tensor<1x2x3x3xf32>) {
  %i = arith.constant dense<0.0> : tensor<1x2x5x5xf32>
  %w = arith.constant dense<1.0> : tensor<2x3x3xf32>
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x7x7xf32>, tensor<2x3x3xf32>) outs(%i : tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %i5 = arith.constant dense<0.0> : tensor<1x2x3x3xf32>
  %w5 = arith.constant dense<1.0> : tensor<2x5x5xf32>
  %1 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w5 : tensor<1x2x7x7xf32>, tensor<2x5x5xf32>) outs(%i5 : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %0, %1 : tensor<1x2x5x5xf32>, tensor<1x2x3x3xf32>
}
