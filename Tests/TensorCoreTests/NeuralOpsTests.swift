import TensorCore
import TensorCoreTestSupport
import XCTest

final class NeuralOpsTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "nn") { fixture, inputs in
      switch fixture.op {
      case "softmax": return [inputs[0].softmax(axis: fixture.int("axis"))]
      case "log_softmax": return [inputs[0].logSoftmax(axis: fixture.int("axis"))]
      case "layer_norm":
        return [
          Tensor.layerNorm(
            inputs[0], normalizedAxes: fixture.int("axes"), weight: inputs.count > 1 ? inputs[1] : nil,
            bias: inputs.count > 2 ? inputs[2] : nil, epsilon: fixture.float("eps"))
        ]
      case "group_norm":
        return [
          Tensor.groupNorm(
            inputs[0], groups: fixture.int("groups"), weight: inputs.count > 1 ? inputs[1] : nil,
            bias: inputs.count > 2 ? inputs[2] : nil, epsilon: fixture.float("eps"))
        ]
      case "batch_norm_train":
        let affine = !fixture.has("affine")
        var (mean, variance): (Tensor?, Tensor?) = affine ? (inputs[3], inputs[4]) : (inputs[1], inputs[2])
        let output = Tensor.batchNorm(
          inputs[0], runningMean: &mean, runningVariance: &variance, weight: affine ? inputs[1] : nil,
          bias: affine ? inputs[2] : nil, training: true, momentum: fixture.float("momentum"),
          epsilon: fixture.float("eps"))
        return [output, mean!, variance!]
      case "batch_norm_eval":
        let affine = !fixture.has("affine")
        var (mean, variance): (Tensor?, Tensor?) = affine ? (inputs[3], inputs[4]) : (inputs[1], inputs[2])
        return [
          Tensor.batchNorm(
            inputs[0], runningMean: &mean, runningVariance: &variance, weight: affine ? inputs[1] : nil,
            bias: affine ? inputs[2] : nil, training: false, epsilon: fixture.float("eps"))
        ]
      case "attention":
        return [
          Tensor.scaledDotProductAttention(
            query: inputs[0], key: inputs[1], value: inputs[2],
            scale: fixture.has("scale") ? fixture.float("scale") : nil)
        ]
      case "attention_mask":
        return [
          Tensor.scaledDotProductAttention(
            query: inputs[0], key: inputs[1], value: inputs[2], mask: inputs[3],
            scale: fixture.has("scale") ? fixture.float("scale") : nil)
        ]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferences() {
    let x = Tensor.normal([2, 3, 4], seed: 1)
    GradientChecker.check([x]) { $0[0].softmax(axis: 1) }
    GradientChecker.check([x]) { $0[0].softmax(axis: -3) }
    GradientChecker.check([x]) { $0[0].logSoftmax(axis: -1) }
    GradientChecker.check([x]) { $0[0].logSoftmax(axis: 0) }
  }

  func testNormalizationGradientsMatchFiniteDifferences() {
    let x = Tensor.normal([2, 3, 4], seed: 1)
    GradientChecker.check([x, Tensor.normal([4], seed: 2), Tensor.normal([4], seed: 3)], epsilon: 1e-3) {
      Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2])
    }
    GradientChecker.check([x, Tensor.normal([3, 4], seed: 12), Tensor.normal([3, 4], seed: 13)], epsilon: 1e-3) {
      Tensor.layerNorm($0[0], normalizedAxes: 2, weight: $0[1], bias: $0[2])
    }
    let image = Tensor.normal([2, 4, 2, 3], seed: 4)
    for groups in [1, 2, 4] {
      GradientChecker.check([image, Tensor.normal([4], seed: 5), Tensor.normal([4], seed: 6)], epsilon: 1e-3) {
        Tensor.groupNorm($0[0], groups: groups, weight: $0[1], bias: $0[2])
      }
    }
    GradientChecker.check([image, Tensor.normal([4], seed: 7), Tensor.normal([4], seed: 8)], epsilon: 1e-3) {
      var (mean, variance): (Tensor?, Tensor?) = (nil, nil)
      return Tensor.batchNorm(
        $0[0], runningMean: &mean, runningVariance: &variance, weight: $0[1], bias: $0[2], training: true)
    }
    let statistics = (mean: Tensor.normal([4], seed: 14), variance: Tensor.uniform([4], low: 0.5, high: 2, seed: 15))
    GradientChecker.check([image, Tensor.normal([4], seed: 7), Tensor.normal([4], seed: 8)], epsilon: 1e-3) {
      var (mean, variance): (Tensor?, Tensor?) = (statistics.mean, statistics.variance)
      return Tensor.batchNorm(
        $0[0], runningMean: &mean, runningVariance: &variance, weight: $0[1], bias: $0[2], training: false)
    }
  }

  func testAttentionGradientsMatchFiniteDifferences() {
    let mask = Tensor(shape: [1, 1, 4], values: [0, 0, -1e4, 0])
    GradientChecker.check(
      [Tensor.normal([2, 3, 5], seed: 9), Tensor.normal([2, 4, 5], seed: 10), Tensor.normal([2, 4, 2], seed: 11)]
    ) { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: mask) }
    // Multiple heads with a per-head mask, and batch axes that broadcast between query, key and value.
    let headMask = Tensor.normal([3, 1, 4], seed: 16)
    let heads = [
      Tensor.normal([2, 3, 2, 5], seed: 17), Tensor.normal([2, 3, 4, 5], seed: 18),
      Tensor.normal([2, 3, 4, 3], seed: 19),
    ]
    GradientChecker.check(heads) {
      Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: headMask, scale: 0.7)
    }
    GradientChecker.check(
      [
        Tensor.normal([2, 1, 3, 4], seed: 20), Tensor.normal([1, 2, 5, 4], seed: 21),
        Tensor.normal([2, 5, 2], seed: 22),
      ]
    ) { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]) }
  }

  /// Packed heads give what splitting the heads, attending and merging them back gives, forward and backward.
  func testMultiHeadAttentionOnPackedHeadsMatchesSplitHeads() {
    let (batch, heads, targetLength, sourceLength, embedding, valueEmbedding) = (2, 3, 4, 5, 2, 3)
    let mask = Tensor.normal([batch, 1, 1, sourceLength], seed: 30)
    func split(_ packed: Tensor, _ length: Int, _ width: Int) -> Tensor {
      packed.reshaped([batch, length, heads, width]).permuted(0, 2, 1, 3)
    }
    let operands = [
      Tensor.normal([batch, targetLength, heads * embedding], seed: 31),
      Tensor.normal([batch, sourceLength, heads * embedding], seed: 32),
      Tensor.normal([batch, sourceLength, heads * valueEmbedding], seed: 33),
    ]
    let packed = Tensor.multiHeadAttention(
      query: operands[0], key: operands[1], value: operands[2], heads: heads, mask: mask, scale: 0.6)
    let reference = Tensor.scaledDotProductAttention(
      query: split(operands[0], targetLength, embedding), key: split(operands[1], sourceLength, embedding),
      value: split(operands[2], sourceLength, valueEmbedding), mask: mask, scale: 0.6
    ).permuted(0, 2, 1, 3).reshaped([batch, targetLength, heads * valueEmbedding])
    assertClose(packed, reference, tolerance: 1e-6)
    GradientChecker.check(operands) {
      Tensor.multiHeadAttention(query: $0[0], key: $0[1], value: $0[2], heads: heads, mask: mask)
    }
  }

  /// Heads large enough to run one per core at a time (128-token scores over 128-wide heads, more heads than twice
  /// the cores) give the values of attending to each head alone, whose products split over the cores instead.
  func testLargeHeadsSpreadOverCoresMatchEachHeadAlone() {
    let (heads, length, width) = (2 * Parallel.coreCount + 1, 128, 128)
    let operands = (0..<3).map { Tensor.normal([1, length, heads * width], seed: 80 + UInt64($0)) }
    let mask = Tensor.normal([1, 1, length, length], seed: 83)
    let together = withNoGrad {
      Tensor.multiHeadAttention(query: operands[0], key: operands[1], value: operands[2], heads: heads, mask: mask)
    }
    for head in 0..<heads {
      let parts = operands.map { $0.slice(axis: 2, start: head * width, end: (head + 1) * width) }
      let alone = withNoGrad {
        Tensor.scaledDotProductAttention(
          query: parts[0], key: parts[1], value: parts[2], mask: mask.reshaped([1, length, length]))
      }
      assertClose(together.slice(axis: 2, start: head * width, end: (head + 1) * width), alone, tolerance: 1e-5)
    }
  }

  /// A learned bias (Swin's relative position bias) receives dS summed over the axes it broadcasts along, both with
  /// the projections and, on packed projections, alone.
  func testAttentionBiasReceivesItsGradient() {
    let (batch, heads, length, width) = (2, 3, 4, 2)
    let mask = Tensor.normal([batch, 1, length, length], seed: 90)
    GradientChecker.check(
      [
        Tensor.normal([batch, length, heads * width], seed: 91),
        Tensor.normal([batch, length, heads * width], seed: 92),
        Tensor.normal([batch, length, heads * width], seed: 93), Tensor.normal([1, heads, length, length], seed: 94),
      ]
    ) { Tensor.multiHeadAttention(query: $0[0], key: $0[1], value: $0[2], heads: heads, mask: mask, bias: $0[3]) }
    GradientChecker.check(
      [
        Tensor.normal([batch, length, 3 * heads * width], seed: 95),
        Tensor.normal([1, heads, length, length], seed: 96),
      ],
      wrt: [1]
    ) { Tensor.multiHeadAttention(packedProjections: $0[0], heads: heads, mask: mask, bias: $0[1], scale: 0.8) }
  }

  /// A second additive term equals adding it into the mask, and without autograd (scores in scratch buffers, no
  /// probabilities kept) the values are the same as with it.
  func testMultiHeadAttentionBiasTermAndInferencePathMatch() {
    let (batch, heads, length, width) = (3, 2, 5, 4)
    var query = Tensor.normal([batch, length, heads * width], seed: 50)
    let key = Tensor.normal([batch, length, heads * width], seed: 51)
    let value = Tensor.normal([batch, length, heads * width], seed: 52)
    let mask = Tensor.normal([batch, 1, length, length], seed: 53)
    let bias = Tensor.normal([1, heads, length, length], seed: 54)
    query.requiresGrad = true
    let recorded = Tensor.multiHeadAttention(query: query, key: key, value: value, heads: heads, mask: mask + bias)
    XCTAssertNotNil(recorded.gradOp, "autograd records")
    let inference = withNoGrad {
      Tensor.multiHeadAttention(query: query, key: key, value: value, heads: heads, mask: mask, bias: bias)
    }
    assertClose(inference, recorded, tolerance: 1e-6)
  }

  /// Without autograd, layer norm runs as one pass, bit for bit as the recorded path's normalise, scale and shift.
  func testLayerNormInOnePassGivesTheRecordedPathsBits() {
    var input = Tensor.normal([3, 5, 37], seed: 70)
    let weight = Tensor.normal([37], seed: 71), bias = Tensor.normal([37], seed: 72)
    let affines: [(Tensor?, Tensor?)] = [(weight, bias), (weight, nil), (nil, bias), (nil, nil)]
    let inference = affines.map { weight, bias in
      withNoGrad { Tensor.layerNorm(input, weight: weight, bias: bias, epsilon: 1e-6) }
    }
    input.requiresGrad = true
    for ((weight, bias), fast) in zip(affines, inference) {
      let recorded = Tensor.layerNorm(input, weight: weight, bias: bias, epsilon: 1e-6)
      XCTAssertNotNil(recorded.gradOp)
      XCTAssertEqual(fast.scalars, recorded.scalars, "weight \(weight != nil), bias \(bias != nil)")
    }
  }

  /// One `[B, T, 3·heads·E]` projection read in place gives what its three slices give, and under autograd its
  /// gradient, written in the packed layout, is the slices' gradients side by side.
  func testMultiHeadAttentionOnPackedProjectionsMatchesItsSlices() throws {
    let (batch, heads, length, width) = (3, 2, 5, 4)
    var qkv = Tensor.normal([batch, length, 3 * heads * width], seed: 60)
    let mask = Tensor.normal([batch, 1, length, length], seed: 61)
    let bias = Tensor.normal([1, heads, length, length], seed: 62)
    let parts = (0..<3).map { qkv.slice(axis: 2, start: $0 * heads * width, end: ($0 + 1) * heads * width) }
    let expected = withNoGrad {
      Tensor.multiHeadAttention(
        query: parts[0], key: parts[1], value: parts[2], heads: heads, mask: mask, bias: bias, scale: 0.7)
    }
    let inPlace = withNoGrad {
      Tensor.multiHeadAttention(packedProjections: qkv, heads: heads, mask: mask, bias: bias, scale: 0.7)
    }
    XCTAssertEqual(inPlace.shape, [batch, length, heads * width])
    assertClose(inPlace, expected, tolerance: 1e-6)
    qkv.requiresGrad = true
    let recorded = Tensor.multiHeadAttention(packedProjections: qkv, heads: heads, mask: mask, bias: bias, scale: 0.7)
    XCTAssertNotNil(recorded.gradOp, "autograd records")
    assertClose(recorded, expected, tolerance: 1e-6)

    // The gradient written into one packed tensor against those of the three slices, attended separately.
    let outputWeights = Tensor.normal(recorded.shape, seed: 63)
    (recorded * outputWeights).sum().backward()
    var sliced = Tensor(shape: qkv.shape, values: qkv.scalars)
    sliced.requiresGrad = true
    let slices = (0..<3).map { sliced.slice(axis: 2, start: $0 * heads * width, end: ($0 + 1) * heads * width) }
    let separate = Tensor.multiHeadAttention(
      query: slices[0], key: slices[1], value: slices[2], heads: heads, mask: mask, bias: bias, scale: 0.7)
    (separate * outputWeights).sum().backward()
    assertClose(try XCTUnwrap(qkv.grad), try XCTUnwrap(sliced.grad), tolerance: 1e-5)
  }

  /// The streamed X-MHA kernel against the two-pass formulation written with separate ops: blocks of 1, 3 and all
  /// image rows (groups of several blocks, whose running text maxima grow across blocks, and groups merged), a padded
  /// token, and scores large enough to be clamped.
  func testBidirectionalAttentionMatchesTheTwoPassFormulation() {
    let (batch, heads, pixels, tokens, width, valueWidth, visualWidth) = (2, 3, 10, 5, 4, 3, 6)
    func split(_ packed: Tensor, _ length: Int, _ headWidth: Int) -> Tensor {
      packed.reshaped([batch, length, heads, headWidth]).permuted(0, 2, 1, 3)
    }
    func merge(_ split: Tensor, _ length: Int) -> Tensor {
      split.permuted(0, 2, 1, 3).reshaped([batch, length, heads * valueWidth])
    }
    // Row 7 of the first image grows large, so its scores are clamped at ±bound.
    let visual =
      Tensor.normal([batch, pixels, visualWidth], seed: 40)
      + Tensor(shape: [batch, pixels, 1], values: (0..<batch * pixels).map { $0 == 7 ? 60 : 0 })
    let query = Tensor.LinearWeights(
      weight: Tensor.normal([heads * width, visualWidth], seed: 44), bias: Tensor.normal([heads * width], seed: 45))
    let values = Tensor.LinearWeights(
      weight: Tensor.normal([heads * valueWidth, visualWidth], seed: 46), bias: nil)
    let output = Tensor.LinearWeights(
      weight: Tensor.normal([7, heads * valueWidth], seed: 47), bias: Tensor.normal([7], seed: 48))
    let key = Tensor.normal([batch, tokens, heads * width], seed: 41)
    let textValues = Tensor.normal([batch, tokens, heads * valueWidth], seed: 43)
    let mask = Tensor(shape: [batch, tokens], values: [1, 1, 1, 1, -9e15, 1, 1, 1, 1, 1])
    let (scale, bound): (Float, Float) = (0.5, 60)
    let projectedQuery = Tensor.linear(visual, weight: query.weight, bias: query.bias)
    let visualValues = Tensor.linear(visual, weight: values.weight)
    let scores = (split(projectedQuery, pixels, width) * scale).matmulTransposed(split(key, tokens, width))
      .clamp(min: -bound, max: bound)
    XCTAssertEqual(scores.max().scalars, [bound], "the test reaches the clamp")
    let imageSide = (scores + mask.reshaped([batch, 1, 1, tokens])).softmax(axis: -1)
      .matmul(split(textValues, tokens, valueWidth))
    let transposed = scores.transposed(2, 3)
    let textSide = (transposed - transposed.max(axis: 3, keepDim: true).values).clamp(min: -bound, max: bound)
      .softmax(axis: -1).matmul(split(visualValues, pixels, valueWidth))
    let expectedDelta = Tensor.linear(merge(imageSide, pixels), weight: output.weight, bias: output.bias)
    for rowsPerBlock in [1, 3, 16] {
      let (deltaVisual, text) = Tensor.bidirectionalAttention(
        visual: visual, key: key, textValues: textValues, textMask: mask, query: query, visualValues: values,
        output: output, heads: heads, scale: scale, clampBound: bound, rowsPerBlock: rowsPerBlock)
      assertClose(deltaVisual, expectedDelta, tolerance: 1e-5, "image attends text, blocks of \(rowsPerBlock)")
      assertClose(text, merge(textSide, tokens), tolerance: 1e-5, "text attends image, blocks of \(rowsPerBlock)")
    }
  }

  func testAttentionFullyMaskedRowIsZeroAndMaskGetsNoGradient() {
    var query = Tensor.normal([1, 2, 3], seed: 23)
    query.requiresGrad = true
    var mask = Tensor(shape: [2, 4], values: [-.infinity, -.infinity, -.infinity, -.infinity, 0, 0, -.infinity, 0])
    mask.requiresGrad = true
    let output = Tensor.scaledDotProductAttention(
      query: query, key: Tensor.normal([1, 4, 3], seed: 24), value: Tensor.normal([1, 4, 2], seed: 25), mask: mask)
    XCTAssertEqual(Array(output.scalars.prefix(2)), [0, 0])
    XCTAssertTrue(output.scalars.allSatisfy { $0.isFinite })
    output.sum().backward()
    XCTAssertEqual(Array(query.grad!.scalars.prefix(3)), [0, 0, 0])
    XCTAssertTrue(query.grad!.scalars.allSatisfy { $0.isFinite })
    XCTAssertNil(mask.grad, "the additive mask is not differentiated")
  }

  func testBatchNormTrainingUpdatesRunningStatisticsWithUnbiasedVariance() {
    let input = Tensor(shape: [4, 1], values: [1, 2, 3, 6])
    var (mean, variance): (Tensor?, Tensor?) = (Tensor([0]), Tensor([1]))
    let output = Tensor.batchNorm(
      input, runningMean: &mean, runningVariance: &variance, training: true, momentum: 0.5, epsilon: 0)
    // Batch mean 3, biased variance 3.5 normalises; the unbiased variance 14/3 enters the running statistics.
    assertClose(output, Tensor(shape: [4, 1], values: [-2, -1, 0, 3].map { $0 / Float(3.5).squareRoot() }))
    assertClose(mean!, Tensor([1.5]))
    assertClose(variance!, Tensor([0.5 + 0.5 * 14 / 3]))
    var (untouchedMean, untouchedVariance) = (mean, variance)
    _ = Tensor.batchNorm(
      input, runningMean: &untouchedMean, runningVariance: &untouchedVariance, training: false)
    XCTAssertEqual(untouchedMean?.scalars, mean?.scalars, "evaluation leaves the running statistics alone")
    XCTAssertEqual(untouchedVariance?.scalars, variance?.scalars)
  }

  func testDropoutIsSeededScaledAndSharesItsMaskWithTheGradient() {
    var input = Tensor.ones([10_000])
    input.requiresGrad = true
    var generator = SeededGenerator(seed: 3)
    let output = input.dropout(probability: 0.3, training: true, generator: &generator)
    let kept = output.scalars.filter { $0 != 0 }
    XCTAssertEqual(Double(kept.count) / 10_000, 0.7, accuracy: 0.02)
    XCTAssertTrue(kept.allSatisfy { Swift.abs($0 - 1 / 0.7) < 1e-6 })
    output.sum().backward()
    XCTAssertEqual(input.grad?.scalars, output.scalars, "the gradient uses the forward mask and scale")
    var again = SeededGenerator(seed: 3)
    XCTAssertEqual(
      Tensor.ones([10_000]).dropout(probability: 0.3, training: true, generator: &again).scalars, output.scalars)
    XCTAssertEqual(input.dropout(probability: 0.3, training: false, generator: &again).scalars, input.scalars)
  }

  func testDropoutEdgeProbabilitiesAndSeeds() {
    let input = Tensor.normal([4_000], seed: 26)
    var generator = SeededGenerator(seed: 5)
    XCTAssertEqual(input.dropout(probability: 0, training: true, generator: &generator).scalars, input.scalars)
    XCTAssertTrue(input.dropout(probability: 1, training: true, generator: &generator).scalars.allSatisfy { $0 == 0 })
    let half = input.dropout(probability: 0.5, training: true, generator: &generator)
    let keptFraction = Double(half.scalars.filter { $0 != 0 }.count) / Double(input.count)
    XCTAssertEqual(keptFraction, 0.5, accuracy: 0.04)
    for (dropped, original) in zip(half.scalars, input.scalars) where dropped != 0 {
      XCTAssertEqual(dropped, original * 2, accuracy: 1e-6)
    }
    var other = SeededGenerator(seed: 6)
    XCTAssertNotEqual(input.dropout(probability: 0.5, training: true, generator: &other).scalars, half.scalars)
  }
}
