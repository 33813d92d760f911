#compdef attsms

_attsms_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _ATTSMS_COMPLETE=complete_zsh attsms)
}

compdef _attsms_completion attsms
