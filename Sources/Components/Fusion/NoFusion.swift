import Config
import Detection
import NN
import TensorCore

/// The `none` fusion: image and text pass through unchanged (GLIP-T (A)).
public final class NoFusion: Module, FusionBlock {
  public func fuse(image: [Tensor], text: TextFeatures) -> (image: [Tensor], text: TextFeatures) { (image, text) }
}
