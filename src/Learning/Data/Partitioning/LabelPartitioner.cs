namespace FedMM.Learning.Data.Partitioning;

/// <summary>
/// Splits labelled items among sites, deterministically by seed. Non-IID: per class, site
/// shares p_c ~ Dirichlet(α) (small α: each class concentrates on few sites). The same share
/// matrix can partition several splits (train and val), so a site's validation data follows
/// its own training label distribution. IID: each class dealt round robin.
/// Every site gets at least <c>minPerSite</c> items when there are enough items
/// (sites × minPerSite); otherwise as many sites as possible get one.
/// </summary>
public static class LabelPartitioner
{
    /// <summary>Draws the share matrix: [class][site], each row a Dirichlet(α) draw summing to 1.</summary>
    public static double[][] DrawShares(int classes, int sites, double alpha, int seed)
    {
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "Need at least one class.");
        if (sites <= 0) throw new ArgumentOutOfRangeException(nameof(sites), sites, "Need at least one site.");
        if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "Dirichlet α must be a positive finite number.");
        var random = new Random(seed);
        return Enumerable.Range(0, classes).Select(_ => GammaSampler.Dirichlet(random, sites, alpha)).ToArray();
    }

    /// <summary>Non-IID partition: shares drawn with <paramref name="alpha"/>, then <see cref="Assign"/>.</summary>
    /// <returns>For each site, the indices of its items in ascending order.</returns>
    public static int[][] Dirichlet(IReadOnlyList<int> labels, int classes, int sites, double alpha, int seed, int minPerSite = 1) =>
        Assign(labels, DrawShares(classes, sites, alpha, seed), seed, minPerSite);

    /// <summary>
    /// Assigns items to sites by a share matrix: within each class the items are shuffled and
    /// cut by largest-remainder rounding of count × share; then sites below
    /// <paramref name="minPerSite"/> take items from the largest sites, preferring the class
    /// the receiving site has the greatest share of.
    /// </summary>
    /// <param name="labels">Class index of each item, in [0, shares.Length).</param>
    /// <param name="shares">[class][site] shares; each row sums to 1.</param>
    /// <param name="seed">Seed of the shuffles.</param>
    /// <param name="minPerSite">Items each site should get at least, when there are enough.</param>
    /// <returns>For each site, the indices of its items in ascending order.</returns>
    public static int[][] Assign(IReadOnlyList<int> labels, double[][] shares, int seed, int minPerSite = 1)
    {
        int classes = shares.Length;
        if (classes == 0) throw new ArgumentException("The share matrix has no classes.", nameof(shares));
        int sites = shares[0].Length;
        if (sites == 0 || shares.Any(row => row.Length != sites)) throw new ArgumentException("Every class needs a share for every site.", nameof(shares));
        var byClass = ItemsByClass(labels, classes);
        var random = new Random(unchecked(seed * 31 + 17));
        var assigned = Enumerable.Range(0, sites).Select(_ => new List<int>()).ToArray();
        for (int c = 0; c < classes; c++)
        {
            var items = byClass[c];
            Shuffle(items, random);
            var counts = LargestRemainder(items.Count, shares[c]);
            int next = 0;
            for (int s = 0; s < sites; s++)
                for (int k = 0; k < counts[s]; k++) assigned[s].Add(items[next++]);
        }
        EnsureMinimum(assigned, labels, shares, Math.Min(minPerSite, labels.Count / sites), minPerSite > 0 && labels.Count < sites);
        return assigned.Select(list => list.Order().ToArray()).ToArray();
    }

    /// <summary>IID partition: each class shuffled and dealt round robin, continuing across classes so site sizes differ by at most one.</summary>
    public static int[][] Iid(IReadOnlyList<int> labels, int classes, int sites, int seed)
    {
        if (sites <= 0) throw new ArgumentOutOfRangeException(nameof(sites), sites, "Need at least one site.");
        var byClass = ItemsByClass(labels, classes);
        var random = new Random(seed);
        var assigned = Enumerable.Range(0, sites).Select(_ => new List<int>()).ToArray();
        int turn = 0;
        foreach (var items in byClass)
        {
            Shuffle(items, random);
            foreach (var item in items) assigned[turn++ % sites].Add(item);
        }
        return assigned.Select(list => list.Order().ToArray()).ToArray();
    }

    /// <summary>
    /// Splits one site's <paramref name="items"/> (indices into <paramref name="labels"/>) into training
    /// and val items: per class, a shuffled <paramref name="fraction"/> (largest remainder over classes)
    /// goes to val. Both sides keep at least one item when the site has two or more.
    /// </summary>
    public static (int[] Train, int[] Val) CarveVal(IReadOnlyList<int> items, IReadOnlyList<int> labels, double fraction, int seed)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The val fraction must be in (0, 1).");
        var random = new Random(seed);
        var byClass = items.GroupBy(i => labels[i]).OrderBy(g => g.Key).Select(g => g.Order().ToList()).ToList();
        foreach (var group in byClass) Shuffle(group, random);
        int total = (int)Math.Round(items.Count * fraction, MidpointRounding.AwayFromZero);
        total = Math.Clamp(total, items.Count >= 2 ? 1 : 0, Math.Max(0, items.Count - 1));
        var perClass = total == 0 ? new int[byClass.Count] : LargestRemainder(total, byClass.Select(g => (double)g.Count).ToArray());
        var val = byClass.SelectMany((group, c) => group.Take(perClass[c])).ToHashSet();
        return (items.Where(i => !val.Contains(i)).Order().ToArray(), val.Order().ToArray());
    }

    private static List<int>[] ItemsByClass(IReadOnlyList<int> labels, int classes)
    {
        var byClass = Enumerable.Range(0, classes).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < labels.Count; i++)
        {
            if (labels[i] < 0 || labels[i] >= classes)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[i], $"Item {i} has class {labels[i]}, outside [0, {classes}).");
            byClass[labels[i]].Add(i);
        }
        return byClass;
    }

    private static int[] LargestRemainder(int total, double[] shares)
    {
        double sum = shares.Sum();
        if (!(sum > 0)) throw new ArgumentException("A class's shares must sum to a positive number.", nameof(shares));
        var exact = shares.Select(s => total * s / sum).ToArray();
        var counts = exact.Select(e => (int)Math.Floor(e)).ToArray();
        int left = total - counts.Sum();
        // Ties go to the lower site index, so the result depends on nothing but the inputs.
        foreach (int s in Enumerable.Range(0, shares.Length).OrderByDescending(s => exact[s] - counts[s]).ThenBy(s => s).Take(left))
            counts[s]++;
        return counts;
    }

    private static void EnsureMinimum(List<int>[] assigned, IReadOnlyList<int> labels, double[][] shares, int minimum, bool fewerItemsThanSites)
    {
        // With fewer items than sites, aim for one item on as many sites as possible.
        int target = fewerItemsThanSites ? 1 : minimum;
        if (target <= 0) return;
        while (true)
        {
            int needy = Array.FindIndex(assigned, list => list.Count < target);
            if (needy < 0) return;
            int donor = Enumerable.Range(0, assigned.Length)
                .Where(s => assigned[s].Count > target)
                .OrderByDescending(s => assigned[s].Count).ThenBy(s => s)
                .DefaultIfEmpty(-1).First();
            if (donor < 0) return; // nothing left to give without starving another site
            var donorItems = assigned[donor];
            // The donor gives an item of the class the needy site is most made for, if it has one.
            int position = Enumerable.Range(0, donorItems.Count)
                .OrderByDescending(p => shares[labels[donorItems[p]]][needy]).ThenByDescending(p => p)
                .First();
            assigned[needy].Add(donorItems[position]);
            donorItems.RemoveAt(position);
        }
    }

    private static void Shuffle(List<int> items, Random random)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
