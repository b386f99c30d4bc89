/// The simulated product catalogue: categories and items with Zipf popularity and fixed prices.
///
/// Items are laid out in equal blocks per category (item `c·perCategory + k` belongs to
/// category `c`), so the category of an item needs no lookup table and a session can browse
/// "around" one category. Prices and the per-category conversion factor are drawn once from the
/// seed, so they are stable observables a model can learn.
struct SimCatalog: Sendable {
    let categoryCount: Int
    let itemsPerCategory: Int
    /// Cumulative Zipf distribution over categories (rank = category index).
    let categoryCDF: [Double]
    /// Cumulative Zipf distribution over the items of one category (rank = index in the block).
    let itemCDF: [Double]
    /// Item price in cents.
    let priceCents: [Int32]
    /// Multiplier on the browse→cart rate for sessions focused on the category (log-normal, σ 0.5).
    let categoryFactor: [Double]
    /// The category's price level (median item price): the price that moves a session's
    /// conversion. Item prices scatter around it without effect, so that once a session has shown
    /// its product's category nothing about the product the stream has not shown matters.
    let categoryPrice: [Double]

    init(categories: Int, items: Int, zipf: Double, random: inout SimRandom) {
        categoryCount = max(1, categories)
        itemsPerCategory = max(1, items / categoryCount)
        categoryCDF = SimCatalog.zipfCDF(count: categoryCount, exponent: zipf)
        itemCDF = SimCatalog.zipfCDF(count: itemsPerCategory, exponent: zipf)
        var factors: [Double] = []
        factors.reserveCapacity(categoryCount)
        var levels: [Double] = []
        levels.reserveCapacity(categoryCount)
        var prices: [Int32] = []
        prices.reserveCapacity(categoryCount * itemsPerCategory)
        for _ in 0..<categoryCount {
            factors.append(SimMath.exp(0.5 * random.normal() - 0.125))
            // Category price level: log-normal around 30 (median), spread ×/÷ 2.7.
            let level = 30 * SimMath.exp(random.normal())
            levels.append(level)
            for _ in 0..<itemsPerCategory {
                let price = level * SimMath.exp(0.4 * random.normal())
                let cents = min(max((price * 100).rounded(), 99), 500_000)
                prices.append(Int32(cents))
            }
        }
        categoryFactor = factors
        categoryPrice = levels
        priceCents = prices
    }

    @inline(__always) var itemCount: Int { priceCents.count }

    @inline(__always) func category(ofItem item: Int) -> Int { item / itemsPerCategory }

    @inline(__always) func price(ofItem item: Int) -> Double { Double(priceCents[item]) / 100 }

    @inline(__always) func randomCategory(_ random: inout SimRandom) -> Int { random.pick(categoryCDF) }

    /// An item of `category`, Zipf-popular within it.
    @inline(__always) func randomItem(in category: Int, _ random: inout SimRandom) -> Int {
        category * itemsPerCategory + random.pick(itemCDF)
    }

    /// Cumulative distribution with weights 1/rank^s, last entry exactly 1.
    static func zipfCDF(count: Int, exponent: Double) -> [Double] {
        var weights = [Double](repeating: 0, count: count)
        var total = 0.0
        for rank in 0..<count {
            let w = SimMath.exp(-exponent * SimMath.log(Double(rank + 1)))
            total += w
            weights[rank] = total
        }
        for i in 0..<count { weights[i] /= total }
        weights[count - 1] = 1
        return weights
    }
}
