/// Logistic regression over hashed sparse features with a per-coordinate adaptive optimiser.
///
/// State is one flat `[Float]` with two numbers per weight slot, side by side so that a feature
/// touches one cache line: FTRL keeps (z, n), AdaGrad keeps (w, Σg²). The margin also carries a
/// fixed `offset` = logit(prior rate), so regularisation pulls towards the prior, not towards 0.5.
public struct OnlineLogistic: Sendable {
    public let optimizer: ModelConfig.Optimizer
    public let hashBits: Int
    public let alpha: Double
    public let beta: Double
    public let l1: Double
    public let l2: Double
    public let offset: Double
    /// (z, n) or (w, Σg²) per weight slot, interleaved.
    /// After replacing it wholesale, call ``recomputeWeights()``.
    public internal(set) var state: [Float]
    /// The current weight of every slot, kept in step with `state` by each update, so scoring is one
    /// load and one multiply-add per feature (FTRL's weight is otherwise a sqrt and a divide away).
    public private(set) var weights: [Float]
    /// 1/α: FTRL's steps multiply by it (one division fewer per feature and update).
    var inverseAlpha: Double { 1 / alpha }
    /// Examples learned so far: the model version that scores report.
    public internal(set) var updates: UInt64 = 0

    /// `offset` defaults to logit(config.priorRate); a loaded model brings its own.
    public init(config: ModelConfig, offset: Double? = nil) {
        optimizer = config.optimizer
        hashBits = config.hashBits
        alpha = config.alpha
        beta = config.beta
        l1 = config.l1
        l2 = config.l2
        self.offset = offset ?? MathShim.logit(config.priorRate)
        weights = [Float](repeating: 0, count: 1 << config.hashBits)
        state = [Float](repeating: 0, count: 2 << config.hashBits)
    }

    /// Sets the weight of an untrained slot `i` to `w`, as a starting point the updates then move:
    /// FTRL's z is chosen so that its weight formula gives `w` (with no gradient, FTRL's proximal
    /// steps keep a weight where it is); AdaGrad stores the weight itself.
    mutating func seed(slot i: Int, weight w: Double) {
        switch optimizer {
        case .ftrl:
            let d = (beta + Double(state[2 &* i &+ 1]).squareRoot()) * inverseAlpha + l2
            state[2 &* i] = w == 0 ? 0 : Float(-(w * d + (w > 0 ? l1 : -l1)))
        case .adagrad:
            state[2 &* i] = Float(w)
        }
        weights[i] = Float(weight(i))
    }

    /// Re-derives every cached weight from the optimiser state (after loading a saved model).
    mutating func recomputeWeights() {
        for i in 0..<weights.count { weights[i] = Float(weight(i)) }
    }

    /// The weight of slot `i` as the optimiser defines it (FTRL derives it lazily from z and n).
    @inline(__always)
    public func weight(_ i: Int) -> Double {
        let a = Double(state[2 &* i])
        switch optimizer {
        case .ftrl:
            guard abs(a) > l1 else { return 0 }
            let n = Double(state[2 &* i &+ 1])
            return -(a - (a < 0 ? -l1 : l1)) / ((beta + n.squareRoot()) * inverseAlpha + l2)
        case .adagrad:
            return a
        }
    }

    @inline(__always)
    public func margin(_ v: borrowing FeatureVector) -> Double {
        var m = offset
        // Spans read the inline arrays in place (a subscript on the array itself copies it).
        let indices = v.indices.span
        let values = v.values.span
        for k in 0..<v.count { m += Double(weights[Int(indices[k])]) * Double(values[k]) }
        return m
    }

    @inline(__always)
    public func predict(_ v: borrowing FeatureVector) -> Double { MathShim.sigmoid(margin(v)) }

    /// Scores `v` and keeps its three largest contributions |w·x| for the score record.
    @inline(__always)
    public func explain(_ v: borrowing FeatureVector) -> Prediction {
        var out = Prediction()
        var m = offset
        let indices = v.indices.span
        let values = v.values.span
        let names = v.names.span
        for k in 0..<v.count {
            let c = Double(weights[Int(indices[k])]) * Double(values[k])
            m += c
            out.offer(name: names[k], contribution: c)
        }
        out.margin = m
        out.probability = MathShim.sigmoid(m)
        return out
    }

    /// One online gradient step on a frozen example; `importance` scales the gradient.
    /// `probability`: the model's current prediction for `v` when the caller just computed it.
    public mutating func learn(_ v: borrowing FeatureVector, label: Bool, importance: Double = 1,
                               probability: Double? = nil) {
        let p: Double
        if let probability { p = probability } else { p = predict(v) }
        let residual = (p - (label ? 1 : 0)) * importance
        let count = v.count
        let indices = v.indices.span
        let values = v.values.span
        let (alpha, beta, l1, l2, inverseAlpha) = (alpha, beta, l1, l2, inverseAlpha)
        // One pass over raw buffers: no uniqueness or bounds checks per feature, and FTRL's old
        // weight comes from the cached table (the same value `weight(i)` derives, as stored).
        state.withUnsafeMutableBufferPointer { state in
            weights.withUnsafeMutableBufferPointer { weights in
                for k in 0..<count {
                    let i = Int(indices[k])
                    let g = residual * Double(values[k])
                    let g2 = g * g
                    switch optimizer {
                    case .ftrl:
                        let w = Double(weights[i])
                        let n = Double(state[2 &* i &+ 1])
                        // n is stored as a Float; its new root serves both the z step and the
                        // weight, which is exactly what `weight(i)` derives from the stored state.
                        let nNext = Float(n + g2)
                        let rootNext = Double(nNext).squareRoot()
                        let z = Float(Double(state[2 &* i]) + g - (rootNext - n.squareRoot()) * inverseAlpha * w)
                        state[2 &* i] = z
                        state[2 &* i &+ 1] = nNext
                        let zf = Double(z)
                        weights[i] = abs(zf) > l1
                            ? Float(-(zf - (zf < 0 ? -l1 : l1)) / ((beta + rootNext) * inverseAlpha + l2)) : 0
                    case .adagrad:
                        let n = Double(state[2 &* i &+ 1]) + g2
                        let rate = alpha / (beta + n.squareRoot())
                        var w = Double(state[2 &* i])
                        w -= rate * (g + l2 * w)
                        let shrink = rate * l1
                        w = w > shrink ? w - shrink : (w < -shrink ? w + shrink : 0)
                        state[2 &* i] = Float(w)
                        state[2 &* i &+ 1] = Float(n)
                        weights[i] = Float(w)
                    }
                }
            }
        }
        updates &+= 1
    }
}

/// A score and the three features that moved it most (name ids into ``FeatureExtractor/names``).
public struct Prediction: Sendable {
    public var probability: Double = 0
    /// The ranker's raw margin (before any calibration).
    public var margin: Double = 0
    public var topNames = InlineArray<3, UInt16>(repeating: 0)
    public var topContributions = InlineArray<3, Double>(repeating: 0)
    public var topCount = 0

    public init() {}

    /// Insertion into a 3-slot list ordered by |contribution|, largest first; zeros never enter.
    @inline(__always)
    mutating func offer(name: UInt16, contribution c: Double) {
        guard c != 0 else { return }
        var pos = topCount
        while pos > 0 && abs(topContributions[pos - 1]) < abs(c) { pos -= 1 }
        guard pos < 3 else { return }
        var j = min(topCount, 2)
        while j > pos {
            topNames[j] = topNames[j - 1]
            topContributions[j] = topContributions[j - 1]
            j -= 1
        }
        topNames[pos] = name
        topContributions[pos] = c
        topCount = min(topCount + 1, 3)
    }
}

extension OnlineLogistic: Codable {}
