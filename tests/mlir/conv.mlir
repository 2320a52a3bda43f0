// Pass `conv` (python -m spiree.mlir_passes.conv FILE --target host).

// A 3x3 conv with zero padding, bias, residual add and ReLU: a prep dispatch on the unpadded
// input, then one conv dispatch taking the prepped planes, weights, offsets, bias and the
// residual; pad, conv, add and ReLU are gone.
// REQUIRES: host-lanes-16
// CHECK: #[[TGT:.*]] = #hal.executable.target<"llvm-cpu", "embedded-elf-x86_64">
// CHECK-LABEL: stream.executable private @spiree_conv_kernels
// CHECK-SAME: hal.executable.objects = #hal.executable.objects<{#[[TGT]] = [#hal.executable.object<{
// CHECK: stream.executable.export public @convprep_0
// CHECK: stream.executable.export public @conv_0
// CHECK-DAG: func.func private @spiree_convprep_f32_s1(memref<?xf32>, memref<?xf32>, index,
// CHECK-DAG: func.func private @[[KERNEL:spiree_conv_f32_48x8_v16_dense_minmax_add]](memref<?xf32>, memref<?xf32>, memref<?xi32>, memref<?xf32>, memref<?xf32>, memref<?xf32>,
// CHECK: func.func @conv_0(
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[HI:.*]] = arith.constant 0x7F800000 : f32
// CHECK: call @[[KERNEL]]({{.*}}, %[[LO]], %[[HI]])
// CHECK-LABEL: func.func @fuse_pad_bias_residual_relu
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x6x6xf32>, %[[R:.*]]: tensor<1x8x6x6xf32>)
// CHECK: %[[P:.*]] = flow.dispatch @spiree_conv_kernels::@convprep_0(%[[X]]) : (tensor<1x4x6x6xf32>) -> tensor<[[SIZE:[0-9]+]]xf32>
// CHECK-DAG: %[[V:.*]] = arith.constant dense<5.000000e-01> : tensor<1x36x8xf32>
// CHECK-DAG: %[[O:.*]] = arith.constant dense<[0, 1, 2, 8, 9, 10, 16, 17, 18, 64, {{.*}}]> : tensor<36xi32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[2.500000e-01, {{.*}}]> : tensor<8xf32>
// CHECK: %[[D:.*]] = flow.dispatch @spiree_conv_kernels::@conv_0(%[[P]], %[[V]], %[[O]], %[[B]], %[[R]]) : (tensor<[[SIZE]]xf32>, tensor<1x36x8xf32>, tensor<36xi32>, tensor<8xf32>, tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @fuse_pad_bias_residual_relu(%x: tensor<1x4x6x6xf32>, %r: tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32> {
  %zero = arith.constant 0.0 : f32
  %bias = arith.constant dense<[0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]> : tensor<8xf32>
  %w = arith.constant dense<0.5> : tensor<8x4x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  } : tensor<1x4x6x6xf32> to tensor<1x4x8x8xf32>
  %e = tensor.empty() : tensor<1x8x6x6xf32>
  %b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x6x6xf32>) dimensions = [0, 2, 3]
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%b : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0, %r : tensor<1x8x6x6xf32>, tensor<1x8x6x6xf32>) outs(%e : tensor<1x8x6x6xf32>) {
  ^bb0(%a: f32, %c: f32, %out: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<1x8x6x6xf32>
  %2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%1 : tensor<1x8x6x6xf32>) outs(%e : tensor<1x8x6x6xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %c, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x8x6x6xf32>
  return %2 : tensor<1x8x6x6xf32>
}

// -----

// A group-sparse weight (G=4, each group keeps positions 4 = (ci 0, ky 1, kx 1) and 13 =
// (ci 1, ky 1, kx 1) of 18): values [1, K=2, G=4] and one offset per kept position into the
// prepped planes (pitch planes: zero-padded 6x6 per channel, so (ci, ky, kx) is at
// ci*36 + ky*6 + kx: 7 and 43), the sparse kernel; zero-filled accumulator, no activation.
// REQUIRES: host-lanes-16
// CHECK: func.func private @spiree_conv_f32_96x4_v16_sparse_minmax(
// CHECK: func.func @conv_0(
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.constant 0x7F800000 : f32
// CHECK-LABEL: func.func @sparse_group_offsets
// CHECK: %[[P:.*]] = flow.dispatch @spiree_conv_kernels::@convprep_0(%arg0)
// CHECK-DAG: %[[V:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [-1.000000e+00, -2.000000e+00, -3.000000e+00, -4.000000e+00]]]> : tensor<1x2x4xf32>
// CHECK-DAG: %[[O:.*]] = arith.constant dense<{{\[\[}}7, 43]]> : tensor<1x2xi32>
// CHECK: flow.dispatch @spiree_conv_kernels::@conv_0(%[[P]], %[[V]], %[[O]], %{{.*}}) : (tensor<{{[0-9]+}}xf32>, tensor<1x2x4xf32>, tensor<1x2xi32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
func.func @sparse_group_offsets(%x: tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x4x4x4xf32>
  %w = arith.constant dense<[[[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, -4.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<4x2x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x2x6x6xf32>, tensor<4x2x3x3xf32>) outs(%init : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// -----

// ResNet's stem: 7x7, stride 2, padding 3 on 3 input channels, on arm64: the stride-2 prep
// kernel, then the conv kernel (x86-64 AVX-512 reads it directly: the next case).
// TARGET: arm64
// CHECK: func.func private @spiree_convprep_f32_s2(
// CHECK-LABEL: func.func @stem_7x7_stride2
// CHECK: %[[P:.*]] = flow.dispatch @spiree_conv_kernels::@convprep_0(%arg0) : (tensor<1x3x16x16xf32>)
// CHECK: flow.dispatch @spiree_conv_kernels::@conv_0(%[[P]], %{{.*}}, %{{.*}}, %{{.*}}) : (tensor<{{[0-9]+}}xf32>, tensor<1x147x8xf32>, tensor<147xi32>, tensor<8xf32>) -> tensor<1x8x8x8xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
func.func @stem_7x7_stride2(%x: tensor<1x3x16x16xf32>) -> tensor<1x8x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x8x8x8xf32>
  %w = arith.constant dense<0.25> : tensor<8x3x7x7xf32>
  %p = tensor.pad %x low[0, 0, 3, 3] high[0, 0, 3, 3] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  } : tensor<1x3x16x16xf32> to tensor<1x3x22x22xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%p, %w : tensor<1x3x22x22xf32>, tensor<8x3x7x7xf32>) outs(%init : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// -----

// A stem on x86-64 AVX-512: 3x3, stride 2, padding 1 on 3 input channels, bias and ReLU6: one
// dispatch of the direct kernel on the unpadded input (no prep), weights packed [1, 27, 16],
// workgroups over (1 channel block, 8 rows); pad, conv and the clamp are gone.
// REQUIRES: host-lanes-16
// CHECK: stream.executable.export public @conv_0 workgroups() -> (index, index, index) {
// CHECK-NEXT: %[[GX:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[GY:.*]] = arith.constant 8 : index
// CHECK-NOT: @convprep_0
// CHECK: func.func private @[[KERNEL:spiree_convdirect_f32_k3s2_g16_v16_minmax]](memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index, index, index, index, index, index, index, index, index, index, index, index, index, f32, f32)
// CHECK: func.func @conv_0(
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[HI:.*]] = arith.constant 6.000000e+00 : f32
// CHECK: call @[[KERNEL]]({{.*}}, %[[LO]], %[[HI]])
// CHECK-LABEL: func.func @stem_3x3_stride2_direct
// CHECK-SAME: (%[[X:.*]]: tensor<1x3x15x15xf32>)
// CHECK-DAG: %[[V:.*]] = arith.constant dense<1.250000e-01> : tensor<1x27x16xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<5.000000e-01> : tensor<16xf32>
// CHECK: %[[D:.*]] = flow.dispatch @spiree_conv_kernels::@conv_0(%[[X]], %[[V]], %[[B]]) : (tensor<1x3x15x15xf32>, tensor<1x27x16xf32>, tensor<16xf32>) -> tensor<1x16x8x8xf32>
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @stem_3x3_stride2_direct(%x: tensor<1x3x15x15xf32>) -> tensor<1x16x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %bias = arith.constant dense<0.5> : tensor<16xf32>
  %w = arith.constant dense<0.125> : tensor<16x3x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  } : tensor<1x3x15x15xf32> to tensor<1x3x17x17xf32>
  %e = tensor.empty() : tensor<1x16x8x8xf32>
  %b = linalg.broadcast ins(%bias : tensor<16xf32>) outs(%e : tensor<1x16x8x8xf32>) dimensions = [0, 2, 3]
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%p, %w : tensor<1x3x17x17xf32>, tensor<16x3x3x3xf32>) outs(%b : tensor<1x16x8x8xf32>) -> tensor<1x16x8x8xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0 : tensor<1x16x8x8xf32>) outs(%e : tensor<1x16x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %lo = arith.maximumf %in, %zero : f32
    %hi = arith.minimumf %lo, %six : f32
    linalg.yield %hi : f32
  } -> tensor<1x16x8x8xf32>
  return %1 : tensor<1x16x8x8xf32>
}

// -----

// ResNet's downsampling shortcut: an unpadded 1x1 conv with stride 2; prep subsamples, the
// weight is [NG, C_in, G] with one offset per input channel (plane size 3x3 = 9 floats apart).
// CHECK: func.func private @spiree_convprep_f32_s2(
// CHECK-LABEL: func.func @strided_1x1_unpadded
// CHECK: %[[P:.*]] = flow.dispatch @spiree_conv_kernels::@convprep_0(%arg0) : (tensor<1x4x6x6xf32>)
// CHECK: %[[O:.*]] = arith.constant dense<[0, 9, 18, 27]> : tensor<4xi32>
// CHECK: flow.dispatch @spiree_conv_kernels::@conv_0(%[[P]], %{{.*}}, %[[O]], %{{.*}}) : (tensor<{{[0-9]+}}xf32>, tensor<1x4x8xf32>, tensor<4xi32>, tensor<8xf32>) -> tensor<1x8x3x3xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
func.func @strided_1x1_unpadded(%x: tensor<1x4x6x6xf32>) -> tensor<1x8x3x3xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x3x3xf32>
  %w = arith.constant dense<1.5> : tensor<8x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x6x6xf32>, tensor<8x4x1x1xf32>) outs(%init : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %0 : tensor<1x8x3x3xf32>
}

// -----

// SiLU after the conv (sigmoid generic, then multiply): the `_silu` kernel, both generics gone.
// REQUIRES: host-lanes-16
// CHECK: func.func private @spiree_conv_f32_48x8_v16_dense_silu(
// CHECK-LABEL: func.func @fuse_silu
// CHECK: %[[D:.*]] = flow.dispatch @spiree_conv_kernels::@conv_0(
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @fuse_silu(%x: tensor<1x2x5x5xf32>) -> tensor<1x4x5x5xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x4x5x5xf32>
  %w = arith.constant dense<0.1> : tensor<4x2x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  } : tensor<1x2x5x5xf32> to tensor<1x2x7x7xf32>
  %e = tensor.empty() : tensor<1x4x5x5xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x2x7x7xf32>, tensor<4x2x3x3xf32>) outs(%init : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0 : tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %q = arith.divf %one, %d : f32
    linalg.yield %q : f32
  } -> tensor<1x4x5x5xf32>
  %2 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0, %1 : tensor<1x4x5x5xf32>, tensor<1x4x5x5xf32>) outs(%e : tensor<1x4x5x5xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x5x5xf32>
  return %2 : tensor<1x4x5x5xf32>
}

// -----

// A unit-stride 1x1 conv is the pointwise passes' (detect/materialize): left alone.
// CHECK-LABEL: func.func @expect_no_rewrite_unit_stride_1x1
// CHECK-NOT: flow.dispatch
// CHECK: linalg.conv_2d_nchw_fchw
func.func @expect_no_rewrite_unit_stride_1x1(%x: tensor<1x4x6x6xf32>) -> tensor<1x8x6x6xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x6x6xf32>
  %w = arith.constant dense<1.5> : tensor<8x4x1x1xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x6x6xf32>, tensor<8x4x1x1xf32>) outs(%init : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}

// -----

// Dilation 2: left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_dilated
// CHECK-NOT: flow.dispatch
// CHECK: linalg.conv_2d_nchw_fchw
func.func @expect_no_rewrite_dilated(%x: tensor<1x4x8x8xf32>) -> tensor<1x8x4x4xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x4x4xf32>
  %w = arith.constant dense<1.5> : tensor<8x4x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<2> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// -----

// Unequal strides (1, 2): left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_unequal_strides
// CHECK-NOT: flow.dispatch
// CHECK: linalg.conv_2d_nchw_fchw
func.func @expect_no_rewrite_unequal_strides(%x: tensor<1x4x8x8xf32>) -> tensor<1x8x6x3xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x6x3xf32>
  %w = arith.constant dense<1.5> : tensor<8x4x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<[1, 2]> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<1x8x6x3xf32>) -> tensor<1x8x6x3xf32>
  return %0 : tensor<1x8x6x3xf32>
}

// -----

// Stride 3: left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_stride3
// CHECK-NOT: flow.dispatch
// CHECK: linalg.conv_2d_nchw_fchw
func.func @expect_no_rewrite_stride3(%x: tensor<1x4x9x9xf32>) -> tensor<1x8x3x3xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x3x3xf32>
  %w = arith.constant dense<1.5> : tensor<8x4x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<3> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x9x9xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %0 : tensor<1x8x3x3xf32>
}

// -----

// Padding with -1 (not zeros): the pad and the conv stay.
// CHECK-LABEL: func.func @expect_no_rewrite_nonzero_pad
// CHECK-NOT: flow.dispatch
// CHECK: tensor.pad
// CHECK: linalg.conv_2d_nchw_fchw
func.func @expect_no_rewrite_nonzero_pad(%x: tensor<1x4x6x6xf32>) -> tensor<1x8x6x6xf32> {
  %m1 = arith.constant -1.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x8x6x6xf32>
  %w = arith.constant dense<0.5> : tensor<8x4x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %m1 : f32
  } : tensor<1x4x6x6xf32> to tensor<1x4x8x8xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}

// -----

// The weight is a function argument (not a constant): left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_weight_argument
// CHECK-NOT: flow.dispatch
// CHECK: linalg.conv_2d_nchw_fchw
func.func @expect_no_rewrite_weight_argument(%x: tensor<1x4x8x8xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32> {
  %init = arith.constant dense<0.0> : tensor<1x8x6x6xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}

// -----

// The accumulator init is a non-constant tensor (not a bias): left to IREE.
// CHECK-LABEL: func.func @expect_no_rewrite_init_argument
// CHECK-NOT: flow.dispatch
// CHECK: linalg.conv_2d_nchw_fchw
func.func @expect_no_rewrite_init_argument(%x: tensor<1x4x8x8xf32>, %init: tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32> {
  %w = arith.constant dense<0.5> : tensor<8x4x3x3xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}
