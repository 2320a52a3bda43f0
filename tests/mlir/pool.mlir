// Pass `pool` (python -m spiree.mlir_passes.pool FILE --target wasm32).

// mean over H and W (sum into a zero fill, then / H*W) becomes one dispatch of the pooling
// kernel reading the unpooled tensor; both generics and the fill are gone.
// TARGET: wasm32
// CHECK-LABEL: stream.executable private @spiree_pool_kernels
// CHECK: stream.executable.export public @gap_0
// CHECK: func.func private @spiree_gap_f32_v4(memref<?xf32>, memref<?xf32>, index, index, index, index, index, f32, f32)
// CHECK: func.func @gap_0(
// CHECK: call @spiree_gap_f32_v4(%{{[0-9]+}}, %{{[0-9]+}}, %c1{{(_[0-9]+)?}}, %c8{{(_[0-9]+)?}}, %c49{{(_[0-9]+)?}},
// CHECK-LABEL: func.func @global_average_pool
// CHECK-SAME: (%[[X:.*]]: tensor<1x8x7x7xf32>)
// CHECK: %[[D:.*]] = flow.dispatch @spiree_pool_kernels::@gap_0(%[[X]]) : (tensor<1x8x7x7xf32>) -> tensor<1x8x1x1xf32>
// CHECK-NOT: linalg.generic
// CHECK-NOT: linalg.fill
// CHECK: return %[[D]]
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#red = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
func.func @global_average_pool(%x: tensor<1x8x7x7xf32>) -> tensor<1x8x1x1xf32> {
  %zero = arith.constant 0.0 : f32
  %c49 = arith.constant 49.0 : f32
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
  return %m : tensor<1x8x1x1xf32>
}

// -----

// Not a mean: divided by 48 (not H*W = 49), and a max reduction; both stay as they are.
// CHECK-LABEL: func.func @expect_no_rewrite
// CHECK-NOT: flow.dispatch
// CHECK: arith.divf
// CHECK: arith.maximumf
// CHECK: return
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#red = affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>
func.func @expect_no_rewrite(%x: tensor<1x8x7x7xf32>) -> (tensor<1x8x1x1xf32>, tensor<1x8x1x1xf32>) {
  %zero = arith.constant 0.0 : f32
  %c48 = arith.constant 48.0 : f32
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
    %d = arith.divf %in, %c48 : f32
    linalg.yield %d : f32
  } -> tensor<1x8x1x1xf32>
  %mx = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
         ins(%x : tensor<1x8x7x7xf32>) outs(%f : tensor<1x8x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.maximumf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x8x1x1xf32>
  return %m, %mx : tensor<1x8x1x1xf32>, tensor<1x8x1x1xf32>
}
