using System.Globalization;
using FedMM.Contracts;
using FedMM.Learning.Data.Partitioning;
using FedMM.Learning.Federation;
using SkiaSharp;

namespace FedMM.Learning.Data.Synthetic;

/// <summary>
/// Writes a synthetic multimodal CLIENT_ROOT, deterministic by seed (same options, same bytes).
/// </summary>
/// <remarks>
/// <para>Design: each class c is a pair of factors, its group g = c / 2 and its member m = c mod 2
/// (C = 4: classes {0,1} form group 0 and {2,3} group 1; members are {0,2} and {1,3}).
/// Each modality shows one factor clearly and the other only weakly:</para>
/// <list type="bullet">
/// <item>Image: the shape drawn (disk, square, triangle, ring, cross, diamond, …) is the group — a
/// clear cue. Stripes inside the shape, horizontal or vertical, are the member — a weak cue that
/// is right with probability <see cref="SyntheticOptions.WeakCueAccuracy"/> (otherwise the other
/// orientation). Colour, position, size and pixel noise are class-independent distractors.</item>
/// <item>Text: two words from the member's list ("sharp, acute, bright, focal" versus "dull,
/// chronic, faint, diffuse") — clear. One location word from the group's list ("upper, cranial,
/// superior" versus "lower, caudal, inferior", …) — right with probability WeakCueAccuracy,
/// otherwise another group's. Five to nine distractor words, order shuffled.</item>
/// </list>
/// <para>So for C = 4 with the defaults the best image-only classifier reaches about
/// 0.65 (group certain, member a 65% guess), the best text-only one about 0.65 too, and one that
/// sees both about 1.0; <see cref="SyntheticOptions.LabelNoise"/> (5%: the recorded label is a
/// random other class) caps all three a little lower. Content depends only on (seed, split, sample
/// index), never on the partition, so every site sees the same distribution per class.</para>
/// <para>Partition: the pools (Sites × TrainPerSite, Sites × ValPerSite, classes balanced) are
/// split among sites IID, or non-IID with Dirichlet(α) label shares, the same shares for train
/// and val (<see cref="LabelPartitioner"/>). Sites follow <see cref="ModalityPlan"/>: a site
/// folder holds only its modalities (no text lines in an image-only site, no image files in a
/// text-only one). With <see cref="SyntheticOptions.PartialPairRate"/> &gt; 0, some samples of
/// image+text sites lack one modality.</para>
/// </remarks>
public static class SyntheticGenerator
{
    private static readonly string[][] MemberWords =
    [
        ["sharp", "acute", "bright", "focal"],
        ["dull", "chronic", "faint", "diffuse"],
    ];

    private static readonly string[][] GroupWords =
    [
        ["upper", "cranial", "superior"],
        ["lower", "caudal", "inferior"],
        ["left", "lateral", "outer"],
        ["right", "medial", "inner"],
        ["anterior", "front", "ventral"],
        ["posterior", "back", "dorsal"],
    ];

    private static readonly string[] Distractors =
    [
        "patient", "scan", "shows", "region", "noted", "with", "mild", "finding", "image", "follow",
        "study", "area", "seen", "the", "of", "in", "and", "normal", "tissue", "stable", "on", "review",
    ];

    /// <summary>Class label names: "class_0", "class_1", …</summary>
    public static IReadOnlyList<string> LabelNames(int classes) =>
        Enumerable.Range(0, classes).Select(c => "class_" + c.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Writes the federation into <paramref name="rootPath"/>, which must not exist or be empty.</summary>
    public static ClientRoot Generate(string rootPath, SyntheticOptions options)
    {
        if (options.Problem() is string problem) throw new ArgumentException(problem, nameof(options));
        var full = Path.GetFullPath(rootPath);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new IOException($"{full}: folder is not empty; the generator writes only into a new or empty folder.");

        var labels = LabelNames(options.Classes);
        var plan = ModalityPlan.Assign(options.Sites, options.ImageOnlySites, options.TextOnlySites);
        var trainLabels = BalancedLabels(options.Sites * options.TrainPerSite, options.Classes);
        var valLabels = BalancedLabels(options.Sites * options.ValPerSite, options.Classes);
        int[][] trainSites, valSites;
        if (options.DirichletAlpha is double alpha)
        {
            var shares = LabelPartitioner.DrawShares(options.Classes, options.Sites, alpha, options.Seed);
            trainSites = LabelPartitioner.Assign(trainLabels, shares, options.Seed);
            valSites = LabelPartitioner.Assign(valLabels, shares, options.Seed + 1);
        }
        else
        {
            trainSites = LabelPartitioner.Iid(trainLabels, options.Classes, options.Sites, options.Seed);
            valSites = LabelPartitioner.Iid(valLabels, options.Classes, options.Sites, options.Seed + 1);
        }

        var root = ClientRoot.Create(full, labels);
        for (int site = 0; site < options.Sites; site++)
        {
            var info = new ClientInfo("client_" + site.ToString(CultureInfo.InvariantCulture), plan[site]);
            var folder = ClientFolder.Create(root.Client(site).Path, info);
            WriteSplit(folder, ClientFolder.Train, trainSites[site], trainLabels, info.Modalities, labels, options);
            WriteSplit(folder, ClientFolder.Val, valSites[site], valLabels, info.Modalities, labels, options);
        }
        if (options.CommonTestSamples > 0)
        {
            var testLabels = BalancedLabels(options.CommonTestSamples, options.Classes);
            WriteSplit(root.CreateCommonTest(), ClientFolder.Test, Enumerable.Range(0, testLabels.Length).ToArray(), testLabels, Modalities.Both, labels, options, complete: true);
        }
        return root;
    }

    // complete: every sample keeps both modalities (the common test), whatever PartialPairRate says.
    private static void WriteSplit(ClientFolder folder, string split, int[] items, int[] trueLabels, Modalities modalities, IReadOnlyList<string> labels, SyntheticOptions options, bool complete = false)
    {
        var samples = new List<Sample>(items.Length);
        foreach (int item in items)
        {
            var content = SampleContent.Create(options, split, item, trueLabels[item]);
            string id = $"{split}-{item.ToString("D5", CultureInfo.InvariantCulture)}";
            bool keepImage = modalities.HasFlag(Modalities.Image), keepText = modalities.HasFlag(Modalities.Text);
            if (modalities == Modalities.Both && content.Missing != Modalities.None && !complete)
            {
                keepImage = content.Missing != Modalities.Image;
                keepText = content.Missing != Modalities.Text;
            }
            string? image = null;
            if (keepImage)
            {
                image = $"{ClientFolder.ImagesFolderName}/{id}.png";
                File.WriteAllBytes(Path.Combine(folder.SplitPath(split), image), content.Png);
            }
            string? text = keepText ? content.Text : null;
            samples.Add(new Sample(id, labels[content.RecordedLabel], image, text));
        }
        folder.WriteSplit(split, samples);
    }

    private static int[] BalancedLabels(int count, int classes) => Enumerable.Range(0, count).Select(i => i % classes).ToArray();

    /// <summary>One sample's image, text and recorded label, a function of (seed, split, index, class) only.</summary>
    private sealed record SampleContent(byte[] Png, string Text, int RecordedLabel, Modalities Missing)
    {
        public static SampleContent Create(SyntheticOptions options, string split, int index, int trueClass)
        {
            var random = new Random(MixSeed(options.Seed, split switch { ClientFolder.Train => 0, ClientFolder.Val => 1, _ => 2 }, index));
            int groups = (options.Classes + 1) / 2;
            int group = trueClass / 2, member = trueClass % 2;
            int recorded = trueClass;
            if (random.NextDouble() < options.LabelNoise)
                recorded = (trueClass + 1 + random.Next(options.Classes - 1)) % options.Classes;

            int shownMember = random.NextDouble() < options.WeakCueAccuracy ? member : 1 - member;
            int shownGroup = random.NextDouble() < options.WeakCueAccuracy || groups == 1
                ? group
                : (group + 1 + random.Next(groups - 1)) % groups;

            var png = DrawImage(random, options, group, shownMember);
            var text = WriteText(random, member, shownGroup);
            // Drawn last, so the rate changes which samples are partial but not their content.
            var missing = random.NextDouble() < options.PartialPairRate
                ? (random.Next(2) == 0 ? Modalities.Image : Modalities.Text)
                : Modalities.None;
            return new SampleContent(png, text, recorded, missing);
        }

        private static int MixSeed(int seed, int split, int index)
        {
            unchecked
            {
                uint h = (uint)seed * 0x9E3779B1u ^ (uint)split * 0x85EBCA77u ^ (uint)index * 0xC2B2AE3Du;
                h ^= h >> 15;
                h *= 0x2C1B3C6Du;
                h ^= h >> 13;
                return (int)(h & 0x7FFFFFFF);
            }
        }

        private static string WriteText(Random random, int member, int shownGroup)
        {
            var words = new List<string>();
            var memberWords = MemberWords[member];
            words.Add(memberWords[random.Next(memberWords.Length)]);
            words.Add(memberWords[random.Next(memberWords.Length)]);
            words.Add(GroupWord(random, shownGroup));
            int distractors = 5 + random.Next(5);
            for (int i = 0; i < distractors; i++) words.Add(Distractors[random.Next(Distractors.Length)]);
            for (int i = words.Count - 1; i > 0; i--)
            {
                int j = random.Next(i + 1);
                (words[i], words[j]) = (words[j], words[i]);
            }
            return string.Join(' ', words);
        }

        private static string GroupWord(Random random, int group)
        {
            if (group < GroupWords.Length) return GroupWords[group][random.Next(GroupWords[group].Length)];
            return "zone" + group.ToString(CultureInfo.InvariantCulture);
        }

        private static byte[] DrawImage(Random random, SyntheticOptions options, int group, int stripesVertical)
        {
            int size = options.ImageSize;
            double background = 0.1 + 0.2 * random.NextDouble();
            // The shape's colour is a distractor: any bright hue, never tied to the class.
            double[] colour = [0.5 + 0.5 * random.NextDouble(), 0.5 + 0.5 * random.NextDouble(), 0.5 + 0.5 * random.NextDouble()];
            double centerX = size * (0.5 + 0.12 * (2 * random.NextDouble() - 1));
            double centerY = size * (0.5 + 0.12 * (2 * random.NextDouble() - 1));
            double radius = size * (0.24 + 0.1 * random.NextDouble());
            double period = 4 + 2 * random.NextDouble();
            double phase = period * random.NextDouble();

            using var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque));
            var pixels = new byte[size * size * 4];
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    double u = (x + 0.5 - centerX) / radius, v = (y + 0.5 - centerY) / radius;
                    bool inside = InsideShape(group, u, v);
                    double stripe = 0;
                    if (inside)
                    {
                        double along = stripesVertical == 1 ? x : y;
                        stripe = ((along + phase) % period) < period / 2 ? 0.18 : -0.18;
                    }
                    for (int c = 0; c < 3; c++)
                    {
                        double value = inside ? colour[c] * (0.8 + stripe) : background;
                        value += options.PixelNoise * Gaussian(random);
                        pixels[(y * size + x) * 4 + c] = (byte)Math.Clamp(Math.Round(value * 255), 0, 255);
                    }
                    pixels[(y * size + x) * 4 + 3] = 255;
                }
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }

        // Shapes in coordinates scaled so the shape's radius is 1.
        private static bool InsideShape(int group, double u, double v) => (group % 6) switch
        {
            0 => u * u + v * v <= 1,                                    // disk
            1 => Math.Abs(u) <= 0.85 && Math.Abs(v) <= 0.85,            // square
            2 => v <= 0.8 && v >= -0.9 + 1.7 * Math.Abs(u) / 0.95,      // triangle, apex up
            3 => u * u + v * v <= 1 && u * u + v * v >= 0.36,           // ring
            4 => (Math.Abs(u) <= 0.3 && Math.Abs(v) <= 1) || (Math.Abs(v) <= 0.3 && Math.Abs(u) <= 1), // cross
            _ => Math.Abs(u) + Math.Abs(v) <= 1,                        // diamond
        } ^ (group >= 6 && (u * v > 0)); // beyond six groups, quartered variants keep shapes distinct

        private static double Gaussian(Random random)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }
    }
}
