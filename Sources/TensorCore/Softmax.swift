import Foundation

/// Softmax and log-softmax along any axis: one fused, numerically stable pass per row, parallel over rows.
extension Tensor {
  public func softmax(axis: Int = -1) -> Tensor { softmaxFamily(axis: axis, logarithmic: false) }

  public func logSoftmax(axis: Int = -1) -> Tensor { softmaxFamily(axis: axis, logarithmic: true) }

  private func softmaxFamily(axis rawAxis: Int, logarithmic: Bool) -> Tensor {
    let axis = self.axis(rawAxis)
    let (outer, size, inner) = layout(around: axis)
    let output = Tensor(uninitializedShape: shape)
    let (source, out) = (data, output.mutableData)
    Parallel.forEach(outer * inner, costPerItem: size * 4) { line in
      let base = (line / inner) * size * inner + line % inner
      let (input, result) = (source + base, out + base)
      var maximum = -Float.infinity
      for step in 0..<size { maximum = Swift.max(maximum, input[step * inner]) }
      if maximum == -.infinity { maximum = 0 }
      var total: Float = 0
      for step in 0..<size {
        let shifted = Foundation.exp(input[step * inner] - maximum)
        result[step * inner] = shifted
        total += shifted
      }
      if logarithmic {
        let logTotal = Foundation.log(total) + maximum
        for step in 0..<size { result[step * inner] = input[step * inner] - logTotal }
      } else {
        let scale = 1 / total
        for step in 0..<size { result[step * inner] *= scale }
      }
    }
    return Tensor.record(logarithmic ? "log_softmax" : "softmax", output: output, inputs: [self]) { grad in
      let inputGrad = Tensor(uninitializedShape: output.shape)
      let (y, g, target) = (output.data, grad.data, inputGrad.mutableData)
      Parallel.forEach(outer * inner, costPerItem: size * 4) { line in
        let base = (line / inner) * size * inner + line % inner
        var total: Float = 0
        if logarithmic {
          for step in 0..<size { total += g[base + step * inner] }
          for step in 0..<size {
            let index = base + step * inner
            target[index] = g[index] - Foundation.exp(y[index]) * total
          }
        } else {
          for step in 0..<size { total += g[base + step * inner] * y[base + step * inner] }
          for step in 0..<size {
            let index = base + step * inner
            target[index] = y[index] * (g[index] - total)
          }
        }
      }
      return [inputGrad]
    }
  }
}
