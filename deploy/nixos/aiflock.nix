# A NixOS module for aiflock hosts (docs/scale-out.md): the control plane on one host, a node
# agent on the others, and the nats-server of a cluster on each. Import it and set, e.g.:
#
#   imports = [ ./deploy/nixos/aiflock.nix ];
#   services.aiflock = {
#     package = /opt/aiflock;                  # a built checkout: bin/aiflock or ./aiflock
#     controlPlane.enable = true;              # on the first host
#     controlPlane.environment.AIFLOCK_DB_URL = "postgres://aiflock@db/aiflock";
#     nats.configFile = /etc/aiflock/nats/n1.conf;   # from `aiflock nats cluster`
#   };
#   # on the other hosts, after `aiflock node join ... --name dgx-2` once by hand:
#   services.aiflock.node.enable = true;
#
# Nothing here is built by Nix itself: the checkout is built with npm (README).
{ config, lib, pkgs, ... }:

let
  cfg = config.services.aiflock;
  cli = "${toString cfg.package}/aiflock";
in
{
  options.services.aiflock = {
    package = lib.mkOption {
      type = lib.types.path;
      description = "A built aiflock checkout whose `aiflock` launcher runs the CLI.";
    };
    home = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/aiflock";
      description = "AIFLOCK_HOME: the data directory (store, bus keys, a node's saved state).";
    };
    controlPlane = {
      enable = lib.mkEnableOption "the aiflock control plane (aiflock daemon)";
      environment = lib.mkOption {
        type = lib.types.attrsOf lib.types.str;
        default = { };
        description = "AIFLOCK_* settings (docs/configuration.md).";
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
        path = [ pkgs.iptables pkgs.util-linux pkgs.e2fsprogs pkgs.bubblewrap pkgs.nats-server ];
        serviceConfig = {
          ExecStart = "${cli} daemon";
          Restart = "on-failure";
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
        path = [ pkgs.iptables pkgs.util-linux pkgs.e2fsprogs pkgs.bubblewrap ];
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
