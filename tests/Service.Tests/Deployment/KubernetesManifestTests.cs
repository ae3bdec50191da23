using FedMM.Service.Tests.Infrastructure;
using FedMM.Silo.Hosting;
using FedMM.Testing;
using YamlDotNet.RepresentationModel;

namespace FedMM.Service.Tests.Deployment;

[Trait("Category", "Unit")]
public sealed class KubernetesManifestTests
{
    private static readonly string Folder = Path.Combine(RepositoryRoot.Path, "infra", "k8s");

    private static List<(string File, YamlMappingNode Doc)> Documents()
    {
        var documents = new List<(string, YamlMappingNode)>();
        foreach (var file in Directory.GetFiles(Folder, "*.yaml").Order())
        {
            var stream = new YamlStream();
            using var reader = new StreamReader(file);
            stream.Load(reader);
            foreach (var doc in stream.Documents)
                documents.Add((Path.GetFileName(file), Assert.IsType<YamlMappingNode>(doc.RootNode)));
        }
        return documents;
    }

    private static string Scalar(YamlNode node, params string[] path)
    {
        foreach (var key in path) node = ((YamlMappingNode)node).Children[new YamlScalarNode(key)];
        return ((YamlScalarNode)node).Value!;
    }

    private static YamlNode Node(YamlNode node, params string[] path)
    {
        foreach (var key in path) node = ((YamlMappingNode)node).Children[new YamlScalarNode(key)];
        return node;
    }

    private static YamlMappingNode Find(string kind, string name) =>
        Documents().Single(d => Scalar(d.Doc, "kind") == kind && Scalar(d.Doc, "metadata", "name") == name).Doc;

    [Fact]
    public void Every_manifest_parses_and_names_its_kind_and_namespace()
    {
        var documents = Documents();
        Assert.True(documents.Count >= 9);
        foreach (var (file, doc) in documents)
        {
            Assert.False(string.IsNullOrEmpty(Scalar(doc, "apiVersion")), file);
            Assert.False(string.IsNullOrEmpty(Scalar(doc, "metadata", "name")), file);
            if (Scalar(doc, "kind") != "Namespace") Assert.Equal("fedmm", Scalar(doc, "metadata", "namespace"));
        }
    }

    [Fact]
    public void Silos_use_Kubernetes_hosting_with_table_clustering_and_the_storage_secret()
    {
        var silo = Find("Deployment", "fedmm-silo");
        var pod = Node(silo, "spec", "template");
        var container = Assert.IsType<YamlMappingNode>(((YamlSequenceNode)Node(pod, "spec", "containers")).Children.Single());
        var env = ((YamlSequenceNode)container.Children[new YamlScalarNode("env")]).Children.Cast<YamlMappingNode>()
            .ToDictionary(e => Scalar(e, "name"));

        Assert.Equal("Kubernetes", Scalar(env["Cluster__Hosting"], "value"));
        foreach (var variable in new[] { "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID", "POD_NAMESPACE", "POD_NAME", "POD_IP" })
            Assert.True(env.ContainsKey(variable), variable);
        Assert.Equal("fedmm", Scalar(pod, "metadata", "labels", "orleans/serviceId"));
        Assert.Equal("fedmm-silo", Scalar(pod, "spec", "serviceAccountName"));

        var secretRef = Node(env["Storage__ConnectionString"], "valueFrom", "secretKeyRef");
        var secret = Find("Secret", Scalar(secretRef, "name"));
        Assert.True(((YamlMappingNode)Node(secret, "stringData")).Children.ContainsKey(new YamlScalarNode(Scalar(secretRef, "key"))));

        var config = Find("ConfigMap", "fedmm-config");
        string mode = Scalar(config, "data", "Cluster__Mode");
        Assert.Contains(mode, ClusteringModes.All);
        Assert.Equal(ClusteringModes.AzureTable, mode);
        Assert.Equal(Scalar(pod, "metadata", "labels", "orleans/clusterId"), Scalar(config, "data", "Cluster__ClusterId"));
    }

    [Fact]
    public void The_api_service_selects_the_api_pods_and_probes_its_health_endpoints()
    {
        var api = Find("Deployment", "fedmm-api");
        var service = Find("Service", "fedmm-api");
        Assert.Equal(Scalar(api, "spec", "template", "metadata", "labels", "app"), Scalar(service, "spec", "selector", "app"));
        var container = (YamlMappingNode)((YamlSequenceNode)Node(api, "spec", "template", "spec", "containers")).Children.Single();
        Assert.Equal("/health/ready", Scalar(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/health/live", Scalar(container, "livenessProbe", "httpGet", "path"));
    }

    [Fact]
    public void The_ingress_serves_the_api_over_TLS_only()
    {
        var ingress = Find("Ingress", "fedmm-api");
        var tls = (YamlMappingNode)((YamlSequenceNode)Node(ingress, "spec", "tls")).Children.Single();
        Assert.False(string.IsNullOrEmpty(Scalar(tls, "secretName")));
        var rule = (YamlMappingNode)((YamlSequenceNode)Node(ingress, "spec", "rules")).Children.Single();
        Assert.Contains(new YamlScalarNode(Scalar(rule, "host")), ((YamlSequenceNode)tls.Children[new YamlScalarNode("hosts")]).Children);
        var path = (YamlMappingNode)((YamlSequenceNode)Node(rule, "http", "paths")).Children.Single();
        var service = Find("Service", Scalar(path, "backend", "service", "name"));
        var port = (YamlMappingNode)((YamlSequenceNode)Node(service, "spec", "ports")).Children.Single();
        Assert.Equal(Scalar(port, "name"), Scalar(path, "backend", "service", "port", "name"));
        Assert.Equal("true", Scalar(ingress, "metadata", "annotations", "nginx.ingress.kubernetes.io/force-ssl-redirect"));
    }

    [Fact]
    public void The_silo_role_grants_what_Kubernetes_hosting_needs_on_pods()
    {
        var role = Find("Role", "fedmm-silo-pods");
        var rule = (YamlMappingNode)((YamlSequenceNode)role.Children[new YamlScalarNode("rules")]).Children.Single();
        var verbs = ((YamlSequenceNode)rule.Children[new YamlScalarNode("verbs")]).Children.Select(v => ((YamlScalarNode)v).Value).ToList();
        Assert.Subset(new HashSet<string?>(verbs), new HashSet<string?> { "get", "list", "watch", "delete" });
        var binding = Find("RoleBinding", "fedmm-silo-pods");
        Assert.Equal("fedmm-silo", Scalar(((YamlSequenceNode)binding.Children[new YamlScalarNode("subjects")]).Children.Single(), "name"));
    }

    /// <summary>
    /// The Deployments run the images scripts/images.sh builds (fedmm/NAME from
    /// infra/containers/NAME.Containerfile), as the images' non-root user, on ports the images expose.
    /// </summary>
    [Theory]
    [InlineData("fedmm-silo")]
    [InlineData("fedmm-api")]
    public void Deployments_run_the_built_images_as_their_user_on_their_ports(string deployment)
    {
        var pod = Node(Find("Deployment", deployment), "spec", "template", "spec");
        var container = (YamlMappingNode)((YamlSequenceNode)Node(pod, "containers")).Children.Single();
        string image = Scalar(container, "image");
        Assert.Matches("^fedmm/[a-z]+:latest$", image);
        string containerfile = Path.Combine(RepositoryRoot.Path, "infra", "containers", image["fedmm/".Length..image.IndexOf(':')] + ".Containerfile");
        Assert.True(File.Exists(containerfile), $"{deployment} runs {image}, which no Containerfile builds ({containerfile})");
        string[] lines = File.ReadAllLines(containerfile);

        string user = lines.Single(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Trim();
        Assert.Equal(user, Scalar(pod, "securityContext", "runAsUser"));
        Assert.Equal("true", Scalar(pod, "securityContext", "runAsNonRoot"));
        var exposed = lines.Single(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))["EXPOSE ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var port in ((YamlSequenceNode)Node(container, "ports")).Children)
            Assert.Contains(Scalar(port, "containerPort"), exposed);
        foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
            Assert.True(container.Children.ContainsKey(new YamlScalarNode(probe)), $"{deployment} has no {probe}");
        Assert.Contains(lines, l => l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal));
    }
}
