# Every state here writes below pillar['demo_root'], so the tree is only
# assigned to minions that have that pillar value set.
base:
  'demo_root:*':
    - match: pillar
    - motd
    - webapp
