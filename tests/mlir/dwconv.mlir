// Pass `dwconv` (python -m spiree.mlir_passes.dwconv FILE --target host; a case naming the
// executable format or the vector width says `// TARGET: <name>`).

// Pad, bias broadcast and ReLU all fold into one dispatch of the 3x3 stride-1 kernel; its
// scalars are channels 2, h 5, w 5 and paddings top/bottom/left/right 1; units = N x C = 2.
// The kernels are compiled for the target (arm64 here: its executable format, NEON's 4 lanes).
// TARGET: arm64
// CHECK: #[[TGT:.*]] = #hal.executable.target<"llvm-cpu", "embedded-elf-arm_64">
// CHECK-LABEL: stream.executable private @spiree_dwconv_kernels
// CHECK-SAME: #hal.executable.objects<{#[[TGT]] = [#hal.executable.object<{path = "{{.*}}/kernels/arm64-{{[0-9a-f]+}}.o"}>]}>
// CHECK: stream.executable.export public @dwconv_0
// CHECK-NEXT: %[[WG:.*]] = arith.constant 2 : index
// CHECK: func.func private @[[K:spiree_dwconv_k3s1_v4_minmax]](memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index, index, index, index, index, index, index, index, index, f32, f32) attributes {hal.import.static}
// CHECK: func.func @dwconv_0(
// CHECK: stream.binding.subspan %arg3
// CHECK-NEXT: %[[A0:.*]] = arith.constant 2 : index
// CHECK-NEXT: %[[A1:.*]] = arith.constant 5 : index
// CHECK-NEXT: %[[A2:.*]] = arith.constant 5 : index
// CHECK-NEXT: %[[A3:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[A4:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[A5:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[A6:.*]] = arith.constant 1 : index
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: call @[[K]](%{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %[[A0]], %[[A1]], %[[A2]], %[[A3]], %[[A4]], %[[A5]], %[[A6]], %{{[^,]*}}, %{{[^,]*}}, %[[LO]], %{{[^,]*}})
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

// 5x5 stride 2 with asymmetric padding (top 1, bottom 2, left 2, right 1) and SiLU as torch-mlir
// spells it (sigmoid generic + multiply generic), batch 2: the `_silu` kernel, the paddings as
// scalars, units = N x C = 6 over 6 workgroups, no clamp (-inf, +inf).
// CHECK: stream.executable.export public @dwconv_0
// CHECK-NEXT: arith.constant 6 : index
// CHECK: func.func private @[[K:spiree_dwconv_k5s2_v[0-9]+_silu]](
// CHECK: func.func @dwconv_0(
// CHECK: stream.binding.subspan %arg3
// CHECK-NEXT: %[[C:.*]] = arith.constant 3 : index
// CHECK-NEXT: %[[H:.*]] = arith.constant 9 : index
// CHECK-NEXT: %[[W:.*]] = arith.constant 8 : index
// CHECK-NEXT: %[[PT:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[PB:.*]] = arith.constant 2 : index
// CHECK-NEXT: %[[PL:.*]] = arith.constant 2 : index
// CHECK-NEXT: %[[PR:.*]] = arith.constant 1 : index
// CHECK: %[[UNITS:.*]] = arith.constant 6 : index
// CHECK: %[[LO:.*]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: %[[HI:.*]] = arith.constant 0x7F800000 : f32
// CHECK: call @[[K]](%{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %[[C]], %[[H]], %[[W]], %[[PT]], %[[PB]], %[[PL]], %[[PR]], %{{[^,]*}}, %{{[^,]*}}, %[[LO]], %[[HI]])
// CHECK-LABEL: func.func @asymmetric_pad_5x5_stride2_silu
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x9x8xf32>)
// CHECK: %[[D:.*]] = flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%[[X]], %{{.*}}, %{{.*}}) : (tensor<2x3x9x8xf32>, tensor<3x25xf32>, tensor<3xf32>) -> tensor<2x3x4x4xf32>
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @asymmetric_pad_5x5_stride2_silu(%x: tensor<2x3x9x8xf32>) -> tensor<2x3x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %init = arith.constant dense<0.0> : tensor<2x3x4x4xf32>
  %w = arith.constant dense<0.25> : tensor<3x5x5xf32>
  %p = tensor.pad %x low[0, 0, 1, 2] high[0, 0, 2, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<2x3x9x8xf32> to tensor<2x3x12x11xf32>
  %e = tensor.empty() : tensor<2x3x4x4xf32>
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%p, %w : tensor<2x3x12x11xf32>, tensor<3x5x5xf32>) outs(%init : tensor<2x3x4x4xf32>) -> tensor<2x3x4x4xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0 : tensor<2x3x4x4xf32>) outs(%e : tensor<2x3x4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    %x1 = math.exp %n : f32
    %d = arith.addf %x1, %one : f32
    %q = arith.divf %one, %d : f32
    linalg.yield %q : f32
  } -> tensor<2x3x4x4xf32>
  %2 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0, %1 : tensor<2x3x4x4xf32>, tensor<2x3x4x4xf32>) outs(%e : tensor<2x3x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<2x3x4x4xf32>
  return %2 : tensor<2x3x4x4xf32>
}

// -----

// 7x7 stride 1 on an unpadded input (paddings 0) with ReLU6 as torch-mlir spells it (two
// select generics against rank-0 constants): clamp to [0, 6], both generics gone.
// CHECK: func.func private @[[K:spiree_dwconv_k7s1_v[0-9]+_minmax]](
// CHECK: func.func @dwconv_0(
// CHECK: stream.binding.subspan %arg3
// CHECK-NEXT: arith.constant 2 : index
// CHECK-NEXT: arith.constant 9 : index
// CHECK-NEXT: arith.constant 9 : index
// CHECK-NEXT: arith.constant 0 : index
// CHECK-NEXT: arith.constant 0 : index
// CHECK-NEXT: arith.constant 0 : index
// CHECK-NEXT: arith.constant 0 : index
// CHECK: %[[LO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[HI:.*]] = arith.constant 6.000000e+00 : f32
// CHECK: call @[[K]]({{.*}}, %[[LO]], %[[HI]])
// CHECK-LABEL: func.func @unpadded_7x7_relu6
// CHECK: %[[D:.*]] = flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%{{.*}}) : (tensor<1x2x9x9xf32>, tensor<2x49xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[D]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map0 = affine_map<(d0, d1, d2, d3) -> ()>
func.func @unpadded_7x7_relu6(%x: tensor<1x2x9x9xf32>) -> tensor<1x2x3x3xf32> {
  %zero = arith.constant dense<0.0> : tensor<f32>
  %six = arith.constant dense<6.0> : tensor<f32>
  %init = arith.constant dense<0.0> : tensor<1x2x3x3xf32>
  %w = arith.constant dense<1.0> : tensor<2x7x7xf32>
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x9x9xf32>, tensor<2x7x7xf32>) outs(%init : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map0, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%0, %zero : tensor<1x2x3x3xf32>, tensor<f32>) outs(%e : tensor<1x2x3x3xf32>) {
  ^bb0(%in: f32, %z: f32, %out: f32):
    %c = arith.cmpf ogt, %in, %z : f32
    %s = arith.select %c, %in, %z : f32
    linalg.yield %s : f32
  } -> tensor<1x2x3x3xf32>
  %2 = linalg.generic {indexing_maps = [#map0, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%six, %1 : tensor<f32>, tensor<1x2x3x3xf32>) outs(%e : tensor<1x2x3x3xf32>) {
  ^bb0(%s6: f32, %in: f32, %out: f32):
    %c = arith.cmpf olt, %s6, %in : f32
    %s = arith.select %c, %s6, %in : f32
    linalg.yield %s : f32
  } -> tensor<1x2x3x3xf32>
  return %2 : tensor<1x2x3x3xf32>
}

// -----

// A pad with a non-zero value is not folded: IREE computes it, the kernel reads the padded
// tensor with paddings 0.
// CHECK: func.func @dwconv_0(
// CHECK: stream.binding.subspan %arg3
// CHECK-NEXT: arith.constant 2 : index
// CHECK-NEXT: arith.constant 7 : index
// CHECK-NEXT: arith.constant 7 : index
// CHECK-NEXT: arith.constant 0 : index
// CHECK-LABEL: func.func @nonzero_pad_stays
// CHECK: %[[P:.*]] = tensor.pad
// CHECK: flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%[[P]], %{{.*}}, %{{.*}}) : (tensor<1x2x7x7xf32>, tensor<2x9xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
func.func @nonzero_pad_stays(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  %one = arith.constant 1.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x2x5x5xf32>
  %w = arith.constant dense<1.0> : tensor<2x3x3xf32>
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %one : f32
  } : tensor<1x2x5x5xf32> to tensor<1x2x7x7xf32>
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x2x7x7xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// What the kernel cannot take stays on IREE: dilated, unequal strides, stride 3, a 4x4 window,
// a non-constant weight, an accumulator init that is not a bias.
// CHECK-LABEL: func.func @expect_no_rewrite
// CHECK-COUNT-6: linalg.depthwise_conv_2d_nchw_chw
// CHECK-NOT: flow.dispatch
// CHECK-NOT: stream.executable
func.func @expect_no_rewrite(%x: tensor<1x2x9x9xf32>, %wd: tensor<2x3x3xf32>, %i: tensor<1x2x7x7xf32>)
    -> (tensor<1x2x5x5xf32>, tensor<1x2x7x4xf32>, tensor<1x2x3x3xf32>, tensor<1x2x6x6xf32>, tensor<1x2x7x7xf32>, tensor<1x2x7x7xf32>) {
  %w = arith.constant dense<1.0> : tensor<2x3x3xf32>
  %w4 = arith.constant dense<1.0> : tensor<2x4x4xf32>
  %i5 = arith.constant dense<0.0> : tensor<1x2x5x5xf32>
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<2> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x9x9xf32>, tensor<2x3x3xf32>) outs(%i5 : tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %i74 = arith.constant dense<0.0> : tensor<1x2x7x4xf32>
  %1 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<[1, 2]> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x9x9xf32>, tensor<2x3x3xf32>) outs(%i74 : tensor<1x2x7x4xf32>) -> tensor<1x2x7x4xf32>
  %i3 = arith.constant dense<0.0> : tensor<1x2x3x3xf32>
  %2 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<3> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x9x9xf32>, tensor<2x3x3xf32>) outs(%i3 : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %i6 = arith.constant dense<0.0> : tensor<1x2x6x6xf32>
  %3 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w4 : tensor<1x2x9x9xf32>, tensor<2x4x4xf32>) outs(%i6 : tensor<1x2x6x6xf32>) -> tensor<1x2x6x6xf32>
  %i7 = arith.constant dense<0.0> : tensor<1x2x7x7xf32>
  %4 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %wd : tensor<1x2x9x9xf32>, tensor<2x3x3xf32>) outs(%i7 : tensor<1x2x7x7xf32>) -> tensor<1x2x7x7xf32>
  %5 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %w : tensor<1x2x9x9xf32>, tensor<2x3x3xf32>) outs(%i : tensor<1x2x7x7xf32>) -> tensor<1x2x7x7xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<1x2x5x5xf32>, tensor<1x2x7x4xf32>, tensor<1x2x3x3xf32>, tensor<1x2x6x6xf32>, tensor<1x2x7x7xf32>, tensor<1x2x7x7xf32>
}

// -----

// REQUIRES: host-lanes-16
// In place: a stride-1 layer whose output has its input's shape, with rows of 64 to 256 (the
// 16-lane kernels' in-place path), on an input nothing else reads gets its result tied to the
// input (`-> %x`): the export has no binding for the result and passes the input's memref as
// the output. Not when something else reads the input (the second layer: its input is also
// returned) or the input is the function's argument (the third).
// CHECK: func.func @dwconv_0(%{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding) {
// CHECK: %[[IO:.*]] = stream.binding.subspan %arg0
// CHECK: call @spiree_dwconv_k3s1_v16_minmax(%[[IO]], %{{[^,]*}}, %{{[^,]*}}, %[[IO]], %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}
// CHECK: func.func @dwconv_1(%{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding) {
// CHECK: func.func @dwconv_2(%{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding, %{{[^:]*}}: !stream.binding) {
// CHECK-LABEL: func.func @in_place_when_nothing_else_reads_x
// CHECK-SAME: (%{{[^:]*}}: tensor<1x2x4x64xf32>, %[[Y:[^:]*]]: tensor<1x2x4x64xf32>)
// CHECK: %[[R:.*]] = linalg.generic
// CHECK: %[[D0:.*]] = flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%[[R]], %{{.*}}, %{{.*}}) : (tensor<1x2x4x64xf32>, tensor<2x9xf32>, tensor<2xf32>) -> %[[R]]
// CHECK: %[[R2:.*]] = linalg.generic
// CHECK: %[[D1:.*]] = flow.dispatch @spiree_dwconv_kernels::@dwconv_1(%[[R2]], %{{.*}}, %{{.*}}) : (tensor<1x2x4x64xf32>, tensor<2x9xf32>, tensor<2xf32>) -> tensor<1x2x4x64xf32>
// CHECK: %[[D2:.*]] = flow.dispatch @spiree_dwconv_kernels::@dwconv_2(%[[Y]], %{{.*}}, %{{.*}}) : (tensor<1x2x4x64xf32>, tensor<2x9xf32>, tensor<2xf32>) -> tensor<1x2x4x64xf32>
// CHECK: return %[[D0]], %[[D1]], %[[R2]], %[[D2]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @in_place_when_nothing_else_reads_x(%x: tensor<1x2x4x64xf32>, %y: tensor<1x2x4x64xf32>)
    -> (tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %init = arith.constant dense<0.0> : tensor<1x2x4x64xf32>
  %w = arith.constant dense<0.5> : tensor<2x3x3xf32>
  %e = tensor.empty() : tensor<1x2x4x64xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%x : tensor<1x2x4x64xf32>) outs(%e : tensor<1x2x4x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x2x4x64xf32>
  %p = tensor.pad %r low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x64xf32> to tensor<1x2x6x66xf32>
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p, %w : tensor<1x2x6x66xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x4x64xf32>) -> tensor<1x2x4x64xf32>
  %r2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%x : tensor<1x2x4x64xf32>) outs(%e : tensor<1x2x4x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.minimumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x2x4x64xf32>
  %p2 = tensor.pad %r2 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x64xf32> to tensor<1x2x6x66xf32>
  %1 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p2, %w : tensor<1x2x6x66xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x4x64xf32>) -> tensor<1x2x4x64xf32>
  %p3 = tensor.pad %y low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x64xf32> to tensor<1x2x6x66xf32>
  %2 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%p3, %w : tensor<1x2x6x66xf32>, tensor<2x3x3xf32>) outs(%init : tensor<1x2x4x64xf32>) -> tensor<1x2x4x64xf32>
  return %0, %1, %r2, %2 : tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32>
}
