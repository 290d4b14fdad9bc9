import Config
import Detection
import NN
import TensorCore

/// The `none` neck: the backbone's maps go to the head unchanged.
public final class IdentityNeck: Module, Neck {
  public let outputSpecs: [FeatureSpec]

  public init(inputSpecs: [FeatureSpec]) {
    outputSpecs = inputSpecs
    super.init()
  }

  public func callAsFunction(_ features: [Tensor]) -> [Tensor] { features }
}
