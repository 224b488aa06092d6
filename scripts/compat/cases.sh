# Cases of the compatibility test, run in order by run.sh against each engine. `c NAME 'CMD'`:
# CMD is bash; `docker` is the engine under test, $TAR the busybox rootfs tar, $W a scratch dir.
# State carries over between cases (setups are cases too); the last cases remove what was made.
N='--network none'

# --- images: import, tag, list, inspect
c import-busybox          'docker import -c "ENV PATH=/bin" -c "CMD [\"sh\"]" $TAR busybox:latest >/dev/null; echo $?'
c tag                     'docker tag busybox:latest busybox:t1 && docker tag busybox repo/app:t2'
c images-repo-tag         'docker images --format "{{.Repository}}:{{.Tag}}" | sort'
c images-filter-ref       'docker images --filter reference=busybox --format "{{.Repository}}:{{.Tag}}" | sort'
c images-filter-ref-glob  'docker images --filter "reference=busybox:t?" --format "{{.Tag}}"'
c images-filter-ref-repo  'docker images --filter "reference=repo/*" --format "{{.Repository}}"'
c images-filter-dangling  'docker images --filter dangling=true -q | wc -l'
c images-filter-bad       'docker images --filter nosuch=1'
c images-q-unique         'docker images -q | sort -u | wc -l'
c images-format-json-keys 'docker images --format json busybox:t1 | head -1 | grep -o "\"[A-Za-z]*\":" | tr -d "\n"'
c image-inspect-cmd       'docker image inspect -f "{{.Config.Cmd}} {{.Config.Env}}" busybox'
c image-inspect-json-cmd  'docker image inspect -f "{{json .Config.Cmd}}" busybox'
c image-inspect-tags      'docker image inspect -f "{{.RepoTags}}" busybox:t1'
c image-inspect-os        'docker image inspect -f "{{.Os}}/{{.Architecture}}" busybox'
c image-inspect-missing   'docker image inspect nosuch:img'
c image-inspect-entrypt   'docker image inspect -f "{{.Config.Entrypoint}}|{{json .Config.Entrypoint}}" busybox'
c history-q               'docker history -q busybox | wc -l'
c rmi-missing             'docker rmi nosuch:img'
c rmi-tag                 'docker rmi busybox:t1'
c rmi-tag-gone            'docker images --filter reference=busybox:t1 -q | wc -l'

# --- run: output, exit codes, users, env
c run-echo                "docker run --rm $N busybox echo hello"
c run-exit-3              "docker run --rm $N busybox sh -c 'exit 3'"
c run-missing-cmd         "docker run --rm $N busybox nosuchcmd"
c run-not-exec            "docker run --rm $N busybox /etc/passwd"
c run-missing-image       "docker run --rm $N nosuch/image:latest true"
c run-bad-flag            "docker run --nosuchflag busybox true"
c run-user-app            "docker run --rm $N -u app busybox id"
c run-user-uid            "docker run --rm $N -u 1000 busybox id"
c run-user-uidgid         "docker run --rm $N -u 1000:2000 busybox id"
c run-user-root           "docker run --rm $N busybox id"
c run-user-missing        "docker run --rm $N -u nosuch busybox id"
c run-group-add           "docker run --rm $N --group-add 2000 busybox id"
c run-env-order           "docker run --rm $N -e B=2 -e A=1 busybox env | grep -v HOSTNAME | sort"
c run-env-file            "printf 'X=1\n# c\nY=two\n' >\$W/e.env; docker run --rm $N --env-file \$W/e.env busybox sh -c 'echo \$X \$Y'"
c run-workdir             "docker run --rm $N -w /tmp/newdir busybox pwd"
c run-hostname            "docker run --rm $N --hostname myhost busybox hostname"
c run-entrypoint          "docker run --rm $N --entrypoint echo busybox a b"
c run-stdin               "echo piped | docker run --rm -i $N busybox cat"
c run-read-only           "docker run --rm $N --read-only busybox touch /x"
c run-tmpfs               "docker run --rm $N --read-only --tmpfs /tmp busybox sh -c 'touch /tmp/x && echo ok'"
c run-name-conflict-setup "docker create $N --name dup busybox true >/dev/null; echo \$?"
c run-name-conflict       "docker create $N --name dup busybox true 2>&1 | sed 's/by container \"[0-9a-f]*\"/by container X/'"
c run-bad-memory          "docker run --rm $N --memory abc busybox true"
c run-bad-restart         "docker run --rm $N --restart sometimes busybox true"
c run-rm-and-d-restart    "docker run -d --rm --restart always $N busybox true"
c run-cap-drop            "docker run --rm $N --cap-drop ALL busybox sh -c 'grep CapEff /proc/self/status'"
c run-privileged-caps     "docker run --rm $N busybox sh -c 'grep CapBnd /proc/self/status'"
c run-ping-loopback       "docker run --rm $N busybox sh -c 'ping -c1 -W2 127.0.0.1 >/dev/null && echo ok'"
c run-ping-group-range    "docker run --rm $N busybox cat /proc/sys/net/ipv4/ping_group_range"
c run-ulimit              "docker run --rm $N --ulimit nofile=512:1024 busybox sh -c 'ulimit -n'"
c run-shm-size            "docker run --rm $N --shm-size 8m busybox sh -c \"df -k /dev/shm | awk 'NR==2{print \\\$2}'\""
c run-label-inspect       "docker run --name lab $N -l a=1 -l b=2 busybox true; docker inspect -f '{{json .Config.Labels}}' lab"

# --- containers: create, ps, filters, templates
c setup-web               "docker run -d $N --name web -l role=front -l tier=1 busybox sleep 300 >/dev/null; echo \$?"
c setup-web2              "docker run -d $N --name web2 -l role=back busybox sleep 300 >/dev/null; echo \$?"
c setup-exited            "docker run $N --name done7 busybox sh -c 'exit 7'; echo \$?"
c ps-names                'docker ps --format "{{.Names}}" | sort'
c ps-a-names              'docker ps -a --format "{{.Names}}" | sort'
c ps-filter-name-regex    'docker ps --filter "name=^web$" --format "{{.Names}}"'
c ps-filter-name-sub      'docker ps --filter name=web --format "{{.Names}}" | sort'
c ps-filter-label         'docker ps --filter label=role=front --format "{{.Names}}"'
c ps-filter-label-key     'docker ps -a --filter label=role --format "{{.Names}}" | sort'
c ps-filter-exited        'docker ps -a --filter exited=7 --format "{{.Names}} {{.Status}}"'
c ps-filter-status        'docker ps -a --filter status=exited --format "{{.Names}}" | sort'
c ps-filter-status-bad    'docker ps --filter status=sleepy'
c ps-filter-unknown       'docker ps --filter nosuch=1'
c ps-filter-ancestor      'docker ps --filter ancestor=busybox --format "{{.Names}}" | sort'
c ps-filter-before        'docker ps -a --filter before=web2 --format "{{.Names}}" | sort'
c ps-filter-since         'docker ps -a --filter since=web2 --format "{{.Names}}" | sort'
c ps-filter-network       'docker ps --filter network=none --format "{{.Names}}" | sort'
c ps-label-func           'docker ps --filter name=web --format "{{.Names}} {{.Label \"role\"}}" | sort'
c ps-labels-col           'docker ps --filter "name=^web$" --format "{{.Labels}}" | tr , "\n" | sort'
c ps-command              'docker ps --filter "name=^web$" --format "{{.Command}}"'
c ps-image                'docker ps --filter "name=^web$" --format "{{.Image}}"'
c ps-status               'docker ps --filter "name=^web$" --format "{{.Status}}"'
c ps-state                'docker ps -a --filter "name=done7" --format "{{.State}}"'
c ps-ports-empty          'docker ps --filter "name=^web$" --format "[{{.Ports}}]"'
c ps-networks             'docker ps --filter "name=^web$" --format "{{.Networks}}"'
c ps-q-count              'docker ps -q | wc -l'
c ps-n1                   'docker ps -a -n 1 --format "{{.Names}}"'
c ps-latest               'docker ps -a -l --format "{{.Names}}"'
c ps-platform             'docker ps --filter "name=^web$" --format "{{.Platform}}|{{json .Platform}}"'
c ps-json-keys            'docker ps --filter "name=^web$" --format json | grep -o "\"[A-Za-z]*\":" | tr -d "\n"'
c ps-table-header         'docker ps --format "table {{.Names}}\t{{.Image}}" --filter "name=^web$"'
c ps-default-header       'docker ps | head -1 | tr -s " "'
c ps-a-default-header     'docker ps -a --no-trunc | head -1 | tr -s " "'
c ps-no-trunc-command     'docker ps -a --no-trunc --format "{{.Command}}" | sort'

# --- templates
c tpl-printf-prec         'docker inspect -f "{{printf \"%.4s\" .Name}}" web'
c tpl-printf-x            'docker inspect -f "{{printf \"%x\" .State.ExitCode}}|{{printf \"%5d\" .State.ExitCode}}|" done7'
c tpl-printf-q            'docker inspect -f "{{printf \"%q\" .Name}}" web'
c tpl-missing-field       'docker inspect -f "{{.NoSuchField}}" web'
c tpl-missing-key         'docker inspect -f "{{.Config.Labels.nosuch}}" web'
c tpl-index-missing       'docker inspect -f "{{index .Config.Labels \"nosuch\"}}" web'
c tpl-parse-error         'docker inspect -f "{{.Name" web'
c tpl-parse-error-image   'docker image inspect -f "{{.Id" busybox'
c tpl-parse-error-ps      'docker ps --format "{{.Names"'
c tpl-unknown-func        'docker inspect -f "{{nosuchfunc .Name}}" web'
c tpl-json-labels         'docker inspect -f "{{json .Config.Labels}}" web'
c tpl-range-labels        'docker inspect -f "{{range \$k, \$v := .Config.Labels}}{{\$k}}={{\$v}};{{end}}" web'
c tpl-join                'docker inspect -f "{{join .Config.Cmd \",\"}}" web'
c tpl-upper-lower         'docker inspect -f "{{upper .Name}} {{lower \"ABC\"}} {{title \"abc\"}}" web'
c tpl-split               'docker inspect -f "{{split \"a:b:c\" \":\"}}" web'
c tpl-len                 'docker inspect -f "{{len .Config.Labels}}" web'
c tpl-if-eq               'docker inspect -f "{{if eq .State.Status \"running\"}}up{{else}}down{{end}}" web'
c tpl-empty-slice         'docker inspect -f "{{.HostConfig.Dns}}|{{.HostConfig.CapAdd}}|{{json .HostConfig.Dns}}" web'
c tpl-empty-string        'docker inspect -f "[{{.Config.WorkingDir}}][{{.Config.User}}]" web'
c tpl-nil-map             'docker inspect -f "{{.Config.Volumes}}|{{json .Config.Volumes}}" web'
c tpl-state-fields        'docker inspect -f "{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{.State.Restarting}} {{.State.OOMKilled}} {{.State.Dead}} {{.State.ExitCode}} [{{.State.Error}}]" web'
c tpl-exited-fields       'docker inspect -f "{{.State.Status}} {{.State.ExitCode}}" done7'
c tpl-restart-policy      'docker inspect -f "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}" web'
c tpl-network-mode        'docker inspect -f "{{.HostConfig.NetworkMode}}" web'
c tpl-name-path           'docker inspect -f "{{.Name}} {{.Path}} {{.Args}}" web'
c tpl-env                 "docker run --name envc $N -e Z=1 -e A=2 busybox true; docker inspect -f '{{json .Config.Env}}' envc"
c tpl-json-state-keys     'docker inspect -f "{{json .State}}" done7 | grep -o "\"[A-Za-z]*\":" | tr -d "\n"'
c inspect-top-keys        'docker inspect web | grep -oE "^        \"[A-Za-z]+\":" | tr -d " \n"'
c inspect-missing         'docker inspect nosuchctr'
c inspect-type-container  'docker inspect --type container -f "{{.Name}}" web'
c inspect-two-one-missing 'docker inspect -f "{{.Name}}" web nosuchctr'
c inspect-size            'docker inspect -s -f "{{if .SizeRootFs}}rootfs{{end}}" web; docker inspect -s -f "{{json .SizeRw}}" web | grep -cE "^[0-9]+$"'
c inspect-no-size         'docker inspect -f "{{.SizeRw}}" web'
c container-inspect       'docker container inspect -f "{{.Config.Image}}" web'

# --- exec, logs, top, port, diff
c exec-echo               'docker exec web echo inside'
c exec-missing-cmd        'docker exec web nosuchcmd'
c exec-exit               'docker exec web sh -c "exit 4"'
c exec-user               'docker exec -u app web id'
c exec-workdir            'docker exec -w /tmp web pwd'
c exec-env                'docker exec -e FOO=bar web sh -c "echo \$FOO"'
c exec-stopped            'docker exec done7 true'
c exec-missing-ctr        'docker exec nosuchctr true'
c setup-logger            "docker run -d $N --name logger busybox sh -c 'echo err >&2; sleep 0.3; for i in 1 2 3 4 5; do echo line\$i; done; sleep 300' >/dev/null; sleep 1; echo \$?"
c logs                    'docker logs logger'
c logs-tail               'docker logs --tail 2 logger'
c logs-tail-bad           'docker logs --tail abc logger'
c logs-tail-all           'docker logs --tail all logger 2>/dev/null | wc -l'
c logs-missing            'docker logs nosuchctr'
c logs-details-plain      'docker logs --details logger 2>&1 | head -2'
c logs-details-attrs      "docker run --name dlog $N -l team=a -l other=b -e SVC=x --log-opt labels=team --log-opt env=SVC busybox echo hi >/dev/null; docker logs --details dlog; docker rm -f dlog >/dev/null 2>&1"
c logs-tail-0             'docker logs --tail 0 logger 2>&1 | wc -l'
c port-none               'docker port web'
c diff-setup              'docker exec web sh -c "mkdir -p /data && echo x >/data/f && rm /etc/group"; docker diff web | sort'
c top-missing             'docker top nosuchctr'

# --- lifecycle
c pause                   'docker pause web && docker inspect -f "{{.State.Status}} {{.State.Paused}}" web'
c pause-again             'docker pause web'
c ps-status-paused        'docker ps --filter status=paused --format "{{.Names}}"'
c unpause                 'docker unpause web && docker inspect -f "{{.State.Status}}" web'
c unpause-again           'docker unpause web'
c stop-t                  'docker stop -t 1 web2 && docker inspect -f "{{.State.Status}} {{.State.ExitCode}}" web2'
c stop-stopped            'docker stop web2'
c start                   'docker start web2 && docker inspect -f "{{.State.Status}}" web2'
c kill-signal             'docker kill -s KILL web2 && docker inspect -f "{{.State.Status}} {{.State.ExitCode}}" web2'
c kill-stopped            'docker kill web2'
c kill-bad-signal         'docker kill -s NOSIG web'
c restart                 'docker restart -t 1 web2 && docker inspect -f "{{.State.Status}} {{.RestartCount}}" web2'
c rename                  'docker rename web2 web3 && docker ps --format "{{.Names}}" --filter name=web3'
c rename-missing          'docker rename nosuchctr x'
c rm-running              'docker rm web3'
c rm-f-missing            'docker rm -f nosuchctr; echo rc=$?'
c rm-missing              'docker rm nosuchctr'
c rm-f-running            'docker rm -f web3'
c wait-exited             'docker wait done7'
c wait-missing            'docker wait nosuchctr'
c update-missing          'docker update --memory 64m nosuchctr'
c update-memory           'docker update --memory 64m web >/dev/null && docker inspect -f "{{.HostConfig.Memory}}" web'
c commit-c                'docker commit -c "CMD [\"echo\",\"hi\"]" -c "ENTRYPOINT [\"/bin/sh\",\"-c\"]" logger committed:v1 >/dev/null && docker image inspect -f "{{json .Config.Entrypoint}} {{json .Config.Cmd}}" committed:v1'
c rmi-in-use-setup        "docker run --name usesimg $N committed:v1 true; docker tag committed:v1 committed:v2; echo \$?"
c rmi-in-use              'docker rmi committed:v1 2>&1 | sed -E "s/container [0-9a-f]+/container X/; s/image [0-9a-f]+/image Y/"'
c rmi-f-stopped-user      'docker rmi -f committed:v1 | sed -E "s/[0-9a-f]{64}/X/"; docker images -q committed | wc -l'
c rmi-f-stopped-last      'docker rmi -f committed:v2 | sed -E "s/[0-9a-f]{64}/X/"; docker ps -a --filter name=usesimg --format "{{.Names}}"'
c import-xz               'xz -kc $TAR >$W/b.tar.xz && docker import $W/b.tar.xz xzimg:v1 >/dev/null; echo $?; docker images --format "{{.Repository}}:{{.Tag}}" xzimg'
c import-bz2              'bzip2 -kc $TAR >$W/b.tar.bz2 && docker import $W/b.tar.bz2 bzimg:v1 >/dev/null; echo $?; docker images --format "{{.Repository}}:{{.Tag}}" bzimg'
c import-gz-run           'gzip -kc $TAR >$W/b.tar.gz && docker import -c "ENV PATH=/bin" $W/b.tar.gz gzimg:v1 >/dev/null && docker run --rm --network none gzimg:v1 cat /www/index.html'
c import-url              'cp $TAR $W/u.tar; python3 -c "import http.server,socketserver,os,sys;os.chdir(sys.argv[1]);s=socketserver.TCPServer((\"127.0.0.1\",0),http.server.SimpleHTTPRequestHandler);print(s.server_address[1],flush=True);s.serve_forever()" $W >$W/port 2>/dev/null & p=$!; for i in 1 2 3 4 5 6 7 8 9 10; do [ -s $W/port ] && break; sleep 0.3; done; docker import http://127.0.0.1:$(cat $W/port)/u.tar urlimg:v1 >/dev/null; echo $?; kill $p; docker images --format "{{.Repository}}:{{.Tag}}" urlimg'
c import-missing-file     'docker import $W/nosuch.tar x:y'

# --- volumes
c volume-create           'docker volume create vol1 && docker volume create --label k=v vol2'
c volume-ls               'docker volume ls --format "{{.Name}} {{.Driver}}" | sort'
c volume-ls-filter-label  'docker volume ls -q --filter label=k=v'
c volume-inspect          'docker volume inspect -f "{{.Name}} {{.Driver}} {{.Scope}} {{json .Labels}} {{json .Options}}" vol2'
c volume-inspect-missing  'docker volume inspect nosuchvol'
c volume-use              "docker run --rm $N -v vol1:/v busybox sh -c 'echo data >/v/f' && docker run --rm $N -v vol1:/v busybox cat /v/f"
c volume-populate         "docker run --rm $N -v vol3:/www busybox cat /www/index.html"
c volume-rm-in-use        "docker run -d $N --name vuser -v vol1:/v busybox sleep 300 >/dev/null; docker volume rm vol1 2>&1 | sed -E 's/\\[[0-9a-f]+\\]/[X]/'"
c volume-rm-missing       'docker volume rm nosuchvol'
c volume-rm               'docker volume rm vol2 vol3'

# --- networks
c network-ls-default      'docker network ls --format "{{.Name}} {{.Driver}} {{.Scope}}" | sort'
c network-inspect-bridge  'docker network inspect -f "{{.Name}} {{.Driver}}" bridge'
c network-inspect-none    'docker network inspect -f "{{.Name}} {{.Driver}} {{.Scope}}" none host'
c network-create          'docker network create --subnet 10.240.77.0/24 cnet >/dev/null; echo $?'
c network-create-dup      'docker network create cnet'
c network-inspect         'docker network inspect -f "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Internal}}" cnet'
c network-ls-filter       'docker network ls --filter name=cnet --format "{{.Name}}"'
c network-run-ip          "docker run --rm --network cnet --ip 10.240.77.50 busybox sh -c \"ip -4 -o addr show eth0 | awk '{print \\\$4}'\""
c network-dns-name        "docker run -d --network cnet --name srv busybox sleep 300 >/dev/null; docker run --rm --network cnet busybox sh -c 'nslookup srv >/dev/null && echo up'"
c network-dns-netname     "docker run --rm --network cnet busybox sh -c 'nslookup srv.cnet >/dev/null && echo up'"
c network-container-mode  "docker run --rm --network container:srv busybox hostname | grep -c ."
c network-container-host  "[ \"\$(docker run --rm --network container:srv busybox hostname)\" = \"\$(docker inspect -f '{{.Config.Hostname}}' srv)\" ] && echo same"
c network-rm-in-use       'docker network rm cnet 2>&1 | sed -E "s/endpoint [^ ]+/endpoint X/"'
c network-rm-missing      'docker network rm nosuchnet'
c network-inspect-missing 'docker network inspect nosuchnet'
c network-connect-missing 'docker network connect nosuchnet web'

# --- misc commands
c version-api-client      'docker version --format "{{.Client.APIVersion}}" | grep -cE "^1\.[0-9]+$"'
c unknown-subcommand      'docker nosuchcmd'
c unknown-flag-global     'docker --nosuch ps'
c help-exit               'docker ps --help >/dev/null; echo $?'
c stats-json              'docker stats --no-stream --format json web | grep -o "\"[A-Za-z]*\":" | tr -d "\n"'
c stats-format-name       'docker stats --no-stream --format "{{.Name}}" web'
c events-since-until      'docker events --since 1s --until 1s --filter container=nosuch; echo rc=$?'
c create-start            "id=\$(docker create $N --name cs busybox echo started) && docker start -a cs"
c cp-out                  'docker cp web:/www/index.html - | tar -xO'
c cp-missing-path         'docker cp web:/nosuch/file $W/x'
c export-count            'docker export done7 | tar -t | grep -c "^\(\./\)\?bin/busybox$"'
c save-load               'docker save busybox:latest -o $W/img.tar && docker rmi repo/app:t2 >/dev/null && docker load -i $W/img.tar | sed -E "s/sha256:[0-9a-f]+/X/"'
c system-prune-help       'docker system prune --help >/dev/null; echo $?'
c container-prune         'docker container prune -f | grep -c "^<ID>\|^[0-9a-f]\{64\}$"'

# --- cleanup (compared too)
c cleanup-ctrs            'docker rm -f web logger srv vuser lab envc dup cs usesimg dlog >/dev/null 2>&1; docker ps -aq | wc -l'
c cleanup-net             'docker network rm cnet'
c cleanup-vol             'docker volume rm vol1'
c cleanup-images          'docker rmi xzimg:v1 bzimg:v1 gzimg:v1 urlimg:v1 >/dev/null 2>&1; docker images -q | sort -u | wc -l'
