# A NixOS module for aiflock hosts (docs/scale-out.md): the control plane on one host, a node
# agent on the others, and the nats-server of a cluster on each. Import it and set, e.g.:
#
#   imports = [ ./deploy/nixos/aiflock.nix ];
#   services.aiflock = {
#     package = /opt/aiflock;                  # a built checkout (npm ci && npm run build)
#     controlPlane.enable = true;              # on the first host
#     controlPlane.environment = {
#       AIFLOCK_STORE = "postgres";
#       AIFLOCK_DATABASE_URL = "postgres://aiflock@db/aiflock";
#       NATS_URL = "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222";
#       AIFLOCK_API_HOST = "0.0.0.0";          # so the other hosts can join
#     };
#     nats.configFile = /etc/aiflock/nats/n1.conf;   # from `aiflock nats cluster`
#   };
#   # on the other hosts, after joining once by hand as root, with the same home:
#   #   AIFLOCK_HOME=/var/lib/aiflock node /opt/aiflock/packages/cli/dist/main.js node join http://10.0.0.1:8080 --token afj_... --name dgx-2
#   services.aiflock.node.enable = true;
#   # GPU hosts (resources.gpus, docs/scale-out.md "GPUs"): the NVIDIA driver, and
#   #   hardware.nvidia-container-toolkit.enable = true;
#   # with the package that has nvidia-smi in services.aiflock.extraPath, so the node reports its GPUs.
#
# Nothing here is built by Nix itself: the checkout is built with npm (README). The services
# run its CLI with Node directly, not through the `./aiflock` launcher (whose bootstrap checks
# and installs with apt and npm, which a NixOS service should not do at start).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.aiflock;
  cli = "${cfg.nodejs}/bin/node ${toString cfg.package}/packages/cli/dist/main.js";
  # What the runtimes call: the sandboxes' firewall, their volumes (loop-mounted ext4),
  # bubblewrap for the process runtime, the docker CLI for a node's image list.
  tools = [ pkgs.iptables pkgs.util-linux pkgs.e2fsprogs pkgs.bubblewrap pkgs.docker ] ++ cfg.extraPath;
in
{
  options.services.aiflock = {
    package = lib.mkOption {
      type = lib.types.path;
      description = "A built aiflock checkout (packages/cli/dist/main.js is the CLI).";
    };
    nodejs = lib.mkOption {
      type = lib.types.package;
      default = pkgs.nodejs_20;
      defaultText = lib.literalExpression "pkgs.nodejs_20";
      description = "Node.js (20 or newer) that runs the CLI.";
    };
    home = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/aiflock";
      description = "AIFLOCK_HOME: the data directory (store, bus keys, a node's saved state).";
    };
    extraPath = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      description = "More packages on the services' PATH, e.g. the one with nvidia-smi on a GPU host, or QEMU for the vm runtime.";
    };
    controlPlane = {
      enable = lib.mkEnableOption "the aiflock control plane (aiflock daemon)";
      environment = lib.mkOption {
        type = lib.types.attrsOf lib.types.str;
        default = { };
        description = "AIFLOCK_* and NATS_URL settings (docs/configuration.md).";
      };
    };
    node.enable = lib.mkEnableOption "the aiflock node agent of a joined host (aiflock node run)";
    nats.configFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      description = "This host's server config from `aiflock nats cluster`; null: no cluster member here.";
    };
  };

  config = lib.mkMerge [
    {
      # The daemon and node agents need Docker (or bubblewrap for the process runtime).
      virtualisation.docker.enable = lib.mkDefault (cfg.controlPlane.enable || cfg.node.enable);
      systemd.tmpfiles.rules = [ "d ${cfg.home} 0700 root root -" ];
    }
    (lib.mkIf cfg.controlPlane.enable {
      systemd.services.aiflock = {
        description = "aiflock control plane";
        after = [ "network-online.target" "docker.service" ] ++ lib.optional (cfg.nats.configFile != null) "aiflock-nats.service";
        wants = [ "network-online.target" "docker.service" ];
        wantedBy = [ "multi-user.target" ];
        environment = { AIFLOCK_HOME = cfg.home; } // cfg.controlPlane.environment;
        # nats-server: the daemon spawns its own unless NATS_URL names external servers.
        path = tools ++ [ pkgs.nats-server ];
        serviceConfig = {
          ExecStart = "${cli} daemon";
          Restart = "on-failure";
          # 2: bad configuration; restarting would only fail again.
          RestartPreventExitStatus = 2;
          RestartSec = 5;
          TimeoutStopSec = 60;
          LimitNOFILE = 65536;
        };
      };
    })
    (lib.mkIf cfg.node.enable {
      systemd.services.aiflock-node = {
        description = "aiflock node agent";
        after = [ "network-online.target" "docker.service" ] ++ lib.optional (cfg.nats.configFile != null) "aiflock-nats.service";
        wants = [ "network-online.target" "docker.service" ];
        wantedBy = [ "multi-user.target" ];
        environment.AIFLOCK_HOME = cfg.home;
        path = tools;
        serviceConfig = {
          ExecStart = "${cli} node run";
          Restart = "on-failure";
          # 3: the control plane removed this node; a restart would only be refused.
          RestartPreventExitStatus = 3;
          RestartSec = 5;
        };
      };
    })
    (lib.mkIf (cfg.nats.configFile != null) {
      systemd.services.aiflock-nats = {
        description = "nats-server of the aiflock cluster";
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          ExecStart = "${pkgs.nats-server}/bin/nats-server -c ${toString cfg.nats.configFile}";
          Restart = "on-failure";
          RestartSec = 2;
        };
      };
    })
  ];
}
